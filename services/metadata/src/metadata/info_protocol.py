"""JSON-lines protocol between the metadata service and its yt-dlp child processes.

The parent writes one `ChildConfig` line and waits for the child's `ChildReady` line; then it writes one
`ExtractRequest` line per extraction, and the child answers each request with exactly one `ExtractDone` or
`ExtractFailed` line carrying the request's id. A child serves one request at a time and many in its life;
the parent kills it (its whole process group) whenever an answer is late or its caller went away, so a child
is never reused in an unknown state.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from jobcommon.child_process import ErrorKind
from metadata.source_info import SourceInfo

# Runtime imports above on purpose: pydantic resolves the models' annotations.


class _Line(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChildConfig(_Line):
    """Fixed for the child's life; the SSRF guard is installed from it before any network access."""

    allow_private_networks: bool = False
    allowed_networks: list[str] = Field(default_factory=list)
    socket_timeout: float = Field(default=10.0, gt=0)
    playlist_preview: int = Field(default=10, ge=0)


class ChildReady(_Line):
    """The child's first line: config applied, SSRF guard installed, yt-dlp imported."""

    event: Literal["ready"] = "ready"


class ExtractRequest(_Line):
    id: int
    url: str


class ExtractDone(_Line):
    event: Literal["done"] = "done"
    id: int
    info: SourceInfo


class ExtractFailed(_Line):
    event: Literal["failed"] = "failed"
    id: int
    kind: ErrorKind
    error_type: str
    message: str
    """One line, no traceback, no ``ERROR:`` prefix."""


Reply = Annotated[ExtractDone | ExtractFailed, Field(discriminator="event")]

REPLY_ADAPTER: TypeAdapter[ExtractDone | ExtractFailed] = TypeAdapter(Reply)


def dump_line(line: _Line) -> bytes:
    return line.model_dump_json().encode() + b"\n"
