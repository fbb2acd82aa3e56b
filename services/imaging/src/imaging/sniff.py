"""Identify an input by its magic bytes before any decoder sees it.

Only real containers and image formats pass. A text file saved as `clip.mp4` (an HLS or concat playlist,
say) must never reach FFmpeg: some builds would follow the file names inside it and read other local files.
The extension is ignored; the first bytes decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from imaging.errors import UNSUPPORTED, WRONG_KIND, BadMedia

if TYPE_CHECKING:
    from pathlib import Path

TS_PACKET = 188
HEAD_BYTES = TS_PACKET * 2 + 1
AVIF_BRANDS = frozenset({b"avif", b"avis"})
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

Kind = Literal["video", "image"]


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: Kind
    format: str
    """`mp4`, `matroska`, `mpegts`, `avi` for videos; Pillow's format name (`JPEG`, `PNG`, ...) for images."""


def _brands(head: bytes) -> set[bytes]:
    """Major and compatible brands of an ISO-BMFF `ftyp` box (as far as the head holds them)."""
    size = int.from_bytes(head[0:4], "big")
    end = min(len(head), size if 16 <= size <= 4096 else 16)
    brands = {head[8:12]}
    brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def identify(head: bytes) -> Sniffed | None:
    """What the first bytes of a file announce, or None when it is nothing accepted."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brands = _brands(head)
        if brands & AVIF_BRANDS:
            return Sniffed("image", "AVIF")
        if head[8:12] in HEIF_BRANDS:
            return None  # HEIC stills: no decoder here
        return Sniffed("video", "mp4")
    if len(head) >= 8 and head[4:8] in QUICKTIME_ATOMS and int.from_bytes(head[0:4], "big") >= 8:
        return Sniffed("video", "mp4")  # QuickTime .mov without an ftyp box
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "matroska")
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return Sniffed("video", "avi")
    if len(head) > TS_PACKET * 2 and head[0] == head[TS_PACKET] == head[TS_PACKET * 2] == 0x47:
        return Sniffed("video", "mpegts")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "PNG")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return Sniffed("image", "WEBP")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Sniffed("image", "GIF")
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return Sniffed("image", "TIFF")
    return None


def sniff(path: Path, label: str, *, accept: frozenset[Kind] = frozenset({"video", "image"})) -> Sniffed:
    """Identify `path` (called `label` in messages); raise BadMedia unless it is accepted media."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    found = identify(head)
    if found is None:
        raise BadMedia(UNSUPPORTED, f"{label}: not a supported video container or image ({_describe(head)})")
    if found.kind not in accept:
        wanted = " or ".join(sorted(accept))
        raise BadMedia(WRONG_KIND, f"{label}: is {found.kind} ({found.format}), expected {wanted}")
    return found


def _describe(head: bytes) -> str:
    if not head:
        return "empty file"
    start = head[:12]
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head[:64]):
        return f"text starting {start.decode('ascii', 'replace')!r}"
    return f"starts with {start.hex(' ')}"
