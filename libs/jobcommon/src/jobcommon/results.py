"""What finished jobs return, one model per job type (stored as the job's `result`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class DownloadResult(_Result):
    """A downloaded file under MEDIA_ROOT."""

    path: str
    """Path relative to MEDIA_ROOT."""
    size: int
    sha256: str
    title: str | None = None
    ext: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    source_url: str


class EchoResult(_Result):
    """The echo job's payload, returned unchanged."""

    payload: dict[str, Any]
