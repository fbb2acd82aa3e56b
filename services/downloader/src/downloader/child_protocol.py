"""JSON-lines protocol between the downloader service and its yt-dlp child process.

The parent writes one :class:`ChildSpec` JSON document to the child's stdin. The child writes
one JSON object per line to stdout: any number of :class:`ProgressEvent` lines followed by
exactly one final :class:`DoneEvent` or :class:`FailedEvent`.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

ErrorKind = Literal["permanent", "transient"]


class ChildSpec(BaseModel):
    """What the child should download and where to put it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    output_dir: str
    """Absolute directory; the final file is written here as ``media.<ext>``."""
    temp_dir: str
    """Absolute directory for yt-dlp's ``paths.temp`` (``.part`` files). Kept between attempts to resume."""
    format: str | None = None
    socket_timeout: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=0)
    allow_private_networks: bool = False
    ffmpeg_location: str | None = None
    max_filesize: int | None = Field(default=None, gt=0)

    @field_validator("output_dir", "temp_dir")
    @classmethod
    def _must_be_absolute(cls, value: str) -> str:
        if not os.path.isabs(value):
            raise ValueError(f"must be an absolute path: {value!r}")
        return value


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)


class ProgressEvent(_Event):
    event: Literal["progress"] = "progress"
    downloaded_bytes: int | None = None
    total_bytes: int | None = None
    """``total_bytes`` from yt-dlp, or ``total_bytes_estimate`` when the exact size is unknown."""
    speed: float | None = None
    eta: float | None = None
    fragment_index: int | None = None
    fragment_count: int | None = None


class DoneEvent(_Event):
    event: Literal["done"] = "done"
    path: str
    """Absolute path of the final file."""
    size: int
    sha256: str
    title: str | None = None
    ext: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    extractor: str | None = None
    webpage_url: str | None = None


class FailedEvent(_Event):
    event: Literal["failed"] = "failed"
    kind: ErrorKind
    error_type: str
    message: str
    """One line, no traceback, no ``ERROR:`` prefix, no ANSI codes."""


ChildEvent = Annotated[ProgressEvent | DoneEvent | FailedEvent, Field(discriminator="event")]

_EVENT_ADAPTER: TypeAdapter[ChildEvent] = TypeAdapter(ChildEvent)


def parse_child_line(line: bytes) -> ChildEvent:
    """Parse one stdout line of the child. Raises ``pydantic.ValidationError`` on garbage."""
    return _EVENT_ADAPTER.validate_json(line)


def dump_event(event: ChildEvent) -> bytes:
    """Serialise an event as one protocol line (including the trailing newline)."""
    return event.model_dump_json().encode() + b"\n"


class ChildFailed(Exception):
    """The child reported a failure (or died without reporting anything)."""

    def __init__(self, kind: ErrorKind, error_type: str, message: str) -> None:
        super().__init__(f"{kind} {error_type}: {message}")
        self.kind: ErrorKind = kind
        self.error_type = error_type
        self.message = message

    @classmethod
    def from_event(cls, event: FailedEvent) -> ChildFailed:
        return cls(event.kind, event.error_type, event.message)
