"""What every job request shares: strict models, retry and time-limit overrides, follow-up jobs."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

MAX_URL_LENGTH = 4096
TASK_ID = re.compile(r"^[0-9a-f]{32}$")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def http_url(value: str) -> str:
    """Validator: an http(s) URL with a host (yt-dlp would also fetch ftp:, data: and file: otherwise)."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError("only http and https URLs can be downloaded")
    if not parts.hostname:
        raise ValueError("URL has no host")
    return value


def media_source(value: str) -> str:
    """Validator: a path relative to MEDIA_ROOT (no escaping it) or the task id of a finished job."""
    value = value.strip()
    if TASK_ID.match(value):
        return value
    if not value or value.startswith("/") or "\\" in value or "\x00" in value:
        raise ValueError("a source is a path relative to MEDIA_ROOT or the task id of a finished job")
    if any(part == ".." for part in value.split("/")):
        raise ValueError("a source path may not leave MEDIA_ROOT")
    return value


class RetryOverride(StrictModel):
    """Per-submission retry policy (defaults come from the job type's policy)."""

    max_attempts: int | None = Field(default=None, ge=1, le=100)
    backoff_base_s: float | None = Field(default=None, ge=0, le=3600)
    backoff_cap_s: float | None = Field(default=None, ge=0, le=86400)


class TimeLimitOverride(StrictModel):
    """Per-submission time limits in seconds (defaults come from the job type's policy)."""

    soft_limit_s: float | None = Field(default=None, gt=0, le=7 * 86400)
    hard_limit_s: float | None = Field(default=None, gt=0, le=7 * 86400)


class JobRequestBase(StrictModel):
    """Fields every job request accepts. A job type's model narrows `job_type` to its name
    (`job_type: Literal["echo"] = "echo"`) and is declared with `jobcommon.job_types.job_type`."""

    job_type: str

    retry: RetryOverride | None = None
    time_limit: TimeLimitOverride | None = None
    then: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=20,
        description="Follow-up jobs created when this one succeeds, each on its own queue, with this job's "
        "output as their `source` (e.g. a download followed by a thumbnail and a metadata pass).",
    )

    def duplicate_fingerprint(self) -> str | None:
        """Identifies the work itself; two live jobs with the same fingerprint would do it twice.

        None: jobs of this type may run side by side.
        """
        return None
