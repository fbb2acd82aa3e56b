"""What a caller may submit: one pydantic model per job type, joined in a discriminated union.

These are also the bodies of the stream messages the services consume, so a handler receives exactly what
was validated at submission.
"""

from __future__ import annotations

import hashlib
import json
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


class RetryOverride(_Request):
    """Per-submission retry policy (defaults come from the job type's policy)."""

    max_attempts: int | None = Field(default=None, ge=1, le=100)
    backoff_base_s: float | None = Field(default=None, ge=0, le=3600)
    backoff_cap_s: float | None = Field(default=None, ge=0, le=86400)


class TimeLimitOverride(_Request):
    """Per-submission time limits in seconds (defaults come from the job type's policy)."""

    soft_limit_s: float | None = Field(default=None, gt=0, le=7 * 86400)
    hard_limit_s: float | None = Field(default=None, gt=0, le=7 * 86400)


class _JobRequest(_Request):
    retry: RetryOverride | None = None
    time_limit: TimeLimitOverride | None = None

    def duplicate_fingerprint(self) -> str | None:
        """Identifies the work itself; two live jobs with the same fingerprint would do it twice.

        None: jobs of this type may run side by side.
        """
        return None


class DownloadOptions(_Request):
    """yt-dlp options a caller may set for one download."""

    format: str | None = Field(
        default=None, max_length=500, description="yt-dlp format selector, e.g. 'best[height<=720]'."
    )


class VideoDownloadRequest(_JobRequest):
    """Download one video with yt-dlp into MEDIA_ROOT/<task_id>/."""

    job_type: Literal["video_download"] = "video_download"
    url: str = Field(
        max_length=MAX_URL_LENGTH, description="http(s) URL of the video or of a page embedding it."
    )
    options: DownloadOptions = Field(default_factory=DownloadOptions)
    allow_duplicate: bool = Field(
        default=False, description="Run even if the same URL and options are already queued or running."
    )

    _check_url = field_validator("url")(_http_url)

    def duplicate_fingerprint(self) -> str | None:
        if self.allow_duplicate:
            return None
        work = {"url": self.url, "options": self.options.model_dump(mode="json")}
        return hashlib.sha256(json.dumps(work, sort_keys=True).encode()).hexdigest()


class EchoRequest(_JobRequest):
    """Canary job: returns its payload after an optional sleep (used by health checks and benchmarks)."""

    job_type: Literal["echo"] = "echo"
    payload: dict[str, Any] = Field(default_factory=dict)
    sleep_s: float = Field(default=0.0, ge=0.0, le=3600.0)
    fail_with: str | None = Field(
        default=None,
        max_length=1000,
        description="If set, the job fails with this message (tests error paths).",
    )
    fail_kind: Literal["permanent", "transient", "unknown"] = Field(
        default="permanent",
        description="How `fail_with` fails: a PermanentError, TransientError or RuntimeError.",
    )
    fail_attempts: int | None = Field(
        default=None,
        ge=1,
        description="Fail until N failures are on record, then succeed (default: always fail).",
    )
    ignore_cancel: bool = Field(
        default=False, description="Sleep in a way cancellation cannot interrupt (tests hard time limits)."
    )


JobRequest = Annotated[VideoDownloadRequest | EchoRequest, Field(discriminator="job_type")]
"""Any submittable job; `job_type` selects the model."""

JOB_REQUEST_ADAPTER: TypeAdapter[VideoDownloadRequest | EchoRequest] = TypeAdapter(JobRequest)
