"""JSON-lines protocol between the downloader service and its yt-dlp child process.

The parent writes one :class:`ChildSpec` JSON document as the first line of the child's stdin. It may keep
stdin open and send :class:`ControlMessage` lines later (the bandwidth share of a running download); the
child ignores stdin's end. The child writes one JSON object per line to stdout: any number of
:class:`ProgressEvent` and :class:`SpanEvent` lines followed by exactly one final event:
:class:`DoneEvent` (``action="download"``) or :class:`EntriesEvent` (``action="list"``), or
:class:`FailedEvent`.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from jobcommon import DownloadedFile
from jobcommon.child_process import ErrorKind

# Runtime imports above on purpose: pydantic resolves the models' annotations.

Stage = Literal["extracting", "downloading", "postprocessing"]


class ChildSpec(BaseModel):
    """What the child should do (download, or list a playlist) and within which limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    output_dir: str
    """Absolute directory; the final file is written here as ``media.<ext>`` (extra files beside it)."""
    temp_dir: str
    """Absolute directory for yt-dlp's ``paths.temp`` (``.part`` files) and the resume record. Kept between
    attempts to resume."""
    action: Literal["download", "list"] = "download"

    # what to download
    format: str | None = None
    """yt-dlp format selector (the caller's own, or built from max_height/audio_only)."""
    audio_only: bool = False
    """Extract the audio stream of whatever was downloaded (no re-encoding)."""
    container: Literal["mp4", "webm", "mkv"] | None = None
    subtitle_languages: list[str] | None = None
    write_thumbnail: bool = False
    write_info_json: bool = False

    # playlists (action="list")
    playlist_items: str | None = None
    """yt-dlp ``playlist_items``, e.g. ``"1-10,15"``."""
    playlist_limit: int | None = Field(default=None, gt=0)
    """At most this many entries (yt-dlp ``playlistend``)."""
    max_entries: int = Field(default=1000, gt=0)
    """Hard cap on listed entries, whatever ``playlist_items``/``playlist_limit`` ask for."""

    # network
    socket_timeout: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=0)
    allow_private_networks: bool = False
    allowed_networks: list[str] = Field(default_factory=list)
    """Non-public networks that may still be reached (CIDR), see `jobcommon.netguard`."""
    ffmpeg_location: str | None = None

    # limits
    max_filesize: int | None = Field(default=None, gt=0)
    max_duration: float | None = Field(default=None, gt=0)
    rate_limit: int | None = Field(default=None, gt=0)
    """Bytes/s for this download (yt-dlp ``ratelimit``)."""
    share_limit: int | None = Field(default=None, gt=0)
    """Bytes/s: this download's share of the total bandwidth; changed later by `ControlMessage`s."""
    min_free_bytes: int = Field(default=0, ge=0)
    """Stop (transient) when the announced remaining size would leave less than this free on disk."""

    # tracing
    traceparent: str | None = Field(default=None, max_length=64)
    """W3C trace context of the parent's span: the child's spans (`SpanEvent`s) are its children."""

    @field_validator("output_dir", "temp_dir")
    @classmethod
    def _must_be_absolute(cls, value: str) -> str:
        if not os.path.isabs(value):
            raise ValueError(f"must be an absolute path: {value!r}")
        return value


class ControlMessage(BaseModel):
    """Parent → child after the spec: the new bandwidth share (None: unlimited)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    share_limit: int | None = Field(default=None, gt=0)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)


class ProgressEvent(_Event):
    event: Literal["progress"] = "progress"
    stage: Stage = "downloading"
    downloaded_bytes: int | None = None
    total_bytes: int | None = None
    """``total_bytes`` from yt-dlp, or ``total_bytes_estimate`` when the exact size is unknown."""
    speed: float | None = None
    eta: float | None = None
    fragment_index: int | None = None
    fragment_count: int | None = None


class DoneEvent(DownloadedFile):
    """The downloaded file, with absolute paths."""

    event: Literal["done"] = "done"
    extractor: str | None = None
    webpage_url: str | None = None


class Entry(_Event):
    """One entry of a listed playlist: pass ``url`` back as a `video_download` URL."""

    url: str
    title: str | None = None
    duration: float | None = None


class EntriesEvent(_Event):
    event: Literal["entries"] = "entries"
    title: str | None = None
    entries: list[Entry]
    playlist: bool = True
    """False when the URL was a single video (``entries`` is then that video)."""
    truncated: bool = False
    """More entries exist than were listed (``max_entries``)."""
    skipped: int = 0
    """Entries left out because they are not http(s) URLs."""


class SpanEvent(_Event):
    """One finished span of the child's work (`jobcommon.span_records.RecordedSpan.to_json`); the parent
    exports it into the job's trace. Every span ends before the final event."""

    event: Literal["span"] = "span"
    span: dict[str, Any]


class FailedEvent(_Event):
    event: Literal["failed"] = "failed"
    kind: ErrorKind
    error_type: str
    message: str
    """One line, no traceback, no ``ERROR:`` prefix, no ANSI codes."""


ChildEvent = Annotated[
    ProgressEvent | SpanEvent | DoneEvent | EntriesEvent | FailedEvent, Field(discriminator="event")
]

_EVENT_ADAPTER: TypeAdapter[ChildEvent] = TypeAdapter(ChildEvent)


def parse_child_line(line: bytes) -> ChildEvent:
    """Parse one stdout line of the child. Raises ``pydantic.ValidationError`` on garbage."""
    return _EVENT_ADAPTER.validate_json(line)


def dump_event(event: ChildEvent) -> bytes:
    """Serialise an event as one protocol line (including the trailing newline)."""
    return event.model_dump_json().encode() + b"\n"
