"""What a caller may submit: one pydantic model per job type, joined in a discriminated union.

These are also the bodies of the stream messages the services consume, so a handler receives exactly what
was validated at submission.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

MAX_URL_LENGTH = 4096


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError("only http and https URLs can be downloaded")
    if not parts.hostname:
        raise ValueError("URL has no host")
    return value


class DownloadOptions(_Request):
    """yt-dlp options a caller may set for one download."""

    format: str | None = Field(
        default=None, max_length=500, description="yt-dlp format selector, e.g. 'best[height<=720]'."
    )


class VideoDownloadRequest(_Request):
    """Download one video with yt-dlp into MEDIA_ROOT/<task_id>/."""

    job_type: Literal["video_download"] = "video_download"
    url: str = Field(
        max_length=MAX_URL_LENGTH, description="http(s) URL of the video or of a page embedding it."
    )
    options: DownloadOptions = Field(default_factory=DownloadOptions)

    _check_url = field_validator("url")(_http_url)


class EchoRequest(_Request):
    """Canary job: returns its payload after an optional sleep (used by health checks and benchmarks)."""

    job_type: Literal["echo"] = "echo"
    payload: dict[str, Any] = Field(default_factory=dict)
    sleep_s: float = Field(default=0.0, ge=0.0, le=3600.0)
    fail_with: str | None = Field(
        default=None,
        max_length=1000,
        description="If set, the job fails with this message (tests error paths).",
    )


JobRequest = Annotated[VideoDownloadRequest | EchoRequest, Field(discriminator="job_type")]
"""Any submittable job; `job_type` selects the model."""

JOB_REQUEST_ADAPTER: TypeAdapter[VideoDownloadRequest | EchoRequest] = TypeAdapter(JobRequest)
