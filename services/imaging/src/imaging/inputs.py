"""Which inputs the imaging work accepts, decided by their magic bytes (`jobcommon.sniff`) before any
decoder sees them.

Only the video containers FFmpeg is allowed to demux here (`VIDEO_CONTAINERS`, see `imaging.video`) and the
image formats Pillow decodes here (`imaging.decode.PILLOW_DECODERS`) pass. A text file saved as `clip.mp4`
(an HLS or concat playlist, say) must never reach FFmpeg: some builds would follow the file names inside it
and read other local files. The extension is ignored; the first bytes decide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from imaging.decode import PILLOW_DECODERS
from imaging.errors import UNSUPPORTED, WRONG_KIND, BadMedia
from jobcommon.sniff import Sniffed, read_head, sniff

if TYPE_CHECKING:
    from pathlib import Path

Kind = Literal["video", "image"]

VIDEO_CONTAINERS = frozenset({"mp4", "mov", "3gp", "matroska", "webm", "mpegts", "avi"})


def _accepted(found: Sniffed) -> bool:
    if found.kind == "video":
        return found.container in VIDEO_CONTAINERS
    return found.kind == "image" and found.container in PILLOW_DECODERS


def admit(path: Path, label: str, *, accept: frozenset[Kind] = frozenset({"video", "image"})) -> Sniffed:
    """What `path` (called `label` in messages) is; raise BadMedia unless it is media of a kind accepted."""
    found = sniff(path)
    if not _accepted(found):
        what = _describe(found, path)
        raise BadMedia(UNSUPPORTED, f"{label}: not a supported video container or image ({what})")
    if found.kind not in accept:
        wanted = " or ".join(sorted(accept))
        raise BadMedia(WRONG_KIND, f"{label}: is {found.kind} ({found.container}), expected {wanted}")
    return found


def _describe(found: Sniffed, path: Path) -> str:
    if found.kind in ("playlist", "audio"):
        return f"{found.kind}: {found.container}"
    head = read_head(path)
    if not head:
        return "empty file"
    start = head[:12]
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head[:64]):
        return f"text starting {start.decode('ascii', 'replace')!r}"
    return f"starts with {start.hex(' ')}"
