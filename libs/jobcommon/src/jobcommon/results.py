"""What finished jobs return, one model per job type (stored as the job's `result`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


ExtraKind = Literal["subtitle", "thumbnail", "info_json"]


class ExtraFile(_Result):
    """A file a download wrote beside its media file (subtitles, thumbnail, info JSON)."""

    path: str
    """Path relative to MEDIA_ROOT (absolute in the downloader's own child protocol)."""
    kind: ExtraKind
    size: int
    language: str | None = None
    """Subtitles only: the language as it appears in the file name."""


class DownloadedFile(_Result):
    """A downloaded media file and what is known about it."""

    path: str
    """Path relative to MEDIA_ROOT (absolute in the downloader's own child protocol)."""
    size: int
    sha256: str
    title: str | None = None
    ext: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    extra_files: list[ExtraFile] = Field(default_factory=list)
    """Subtitles, thumbnail and info JSON written beside the media file, when the options asked for them."""
    resumed_from: int | None = None
    """Bytes of an interrupted attempt this download continued from (None: it started at zero)."""


class DownloadResult(DownloadedFile):
    """A downloaded file under MEDIA_ROOT."""

    source_url: str


class EchoResult(_Result):
    """The echo job's payload, returned unchanged."""

    payload: dict[str, Any]
