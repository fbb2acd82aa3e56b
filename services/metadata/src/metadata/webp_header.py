"""A WebP's facts from its RIFF chunk headers: canvas size, alpha, EXIF and ICC profile, nothing decoded.

Pillow's WebP plugin reads the whole file into memory and creates libwebp's decoder at open, which allocates
the canvas (4 bytes a pixel: a 16383 x 16383 WebP takes 1 GB) and refuses past twice Pillow's pixel limit;
the metadata probe needs none of that. The chunks are walked by their headers (`CHUNK_LIMIT` at most); only
the ``EXIF`` chunk's content is read, up to `EXIF_LIMIT` bytes. Layout: the WebP container specification
(``RIFF`` size ``WEBP``, then chunks: fourcc, little-endian 32-bit size, content padded to an even size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CHUNK_LIMIT = 100_000
"""Chunks walked at most looking for the ``EXIF`` chunk (a still WebP has one to five; an animation one a
frame, and its EXIF after them)."""
EXIF_LIMIT = 4 * 1024 * 1024
"""Bytes of an ``EXIF`` chunk read (a camera's EXIF, thumbnail included, has at most 64 KB)."""

_VP8X_ICC, _VP8X_ALPHA, _VP8X_EXIF = 0x20, 0x10, 0x08
_VP8_START = b"\x9d\x01\x2a"
_VP8L_SIGNATURE = 0x2F


class WebpHeaderError(Exception):
    """The file's chunk headers are not those of a WebP."""


@dataclass(frozen=True, slots=True)
class WebpHeader:
    width: int
    height: int
    mode: str
    """As Pillow names it once decoded: ``RGBA`` with alpha, else ``RGB``."""
    exif: bytes | None
    icc_profile: bool


def _chunks(fh: BinaryIO) -> Iterator[tuple[bytes, int, int]]:
    """(fourcc, content offset, content size) of the chunks after the RIFF header, in order, as far as the
    file goes and `CHUNK_LIMIT`."""
    head = fh.read(12)
    if len(head) < 12 or head[0:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise WebpHeaderError("not a WebP file")
    offset = 12
    for _ in range(CHUNK_LIMIT):
        fh.seek(offset)
        header = fh.read(8)
        if len(header) < 8:
            return
        size = int.from_bytes(header[4:8], "little")
        yield header[0:4], offset + 8, size
        offset += 8 + size + (size & 1)


def _read(fh: BinaryIO, offset: int, size: int) -> bytes:
    fh.seek(offset)
    return fh.read(size)


def _first_image(fh: BinaryIO, fourcc: bytes, offset: int) -> tuple[int, int, bool]:
    """Width, height and alpha of a simple WebP's only image chunk (``VP8 `` lossy or ``VP8L`` lossless)."""
    data = _read(fh, offset, 10)
    if fourcc == b"VP8 " and len(data) == 10 and data[3:6] == _VP8_START:
        width = int.from_bytes(data[6:8], "little") & 0x3FFF
        height = int.from_bytes(data[8:10], "little") & 0x3FFF
        return width, height, False
    if fourcc == b"VP8L" and len(data) >= 5 and data[0] == _VP8L_SIGNATURE:
        bits = int.from_bytes(data[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    raise WebpHeaderError("the WebP has no readable image header")


def read_webp_header(path: Path) -> WebpHeader:
    """The facts of the WebP at `path` (blocking). Raises WebpHeaderError, OSError."""
    with path.open("rb") as fh:
        chunks = _chunks(fh)
        fourcc, offset, _size = next(chunks, (b"", 0, 0))
        if fourcc != b"VP8X":
            width, height, alpha = _first_image(fh, fourcc, offset)
            if width <= 0 or height <= 0:
                raise WebpHeaderError("the WebP declares no size")
            return WebpHeader(width, height, "RGBA" if alpha else "RGB", None, False)
        data = _read(fh, offset, 10)
        if len(data) < 10:
            raise WebpHeaderError("the WebP's VP8X header is cut short")
        flags = data[0]
        width = int.from_bytes(data[4:7], "little") + 1
        height = int.from_bytes(data[7:10], "little") + 1
        exif = None
        if flags & _VP8X_EXIF:
            exif_chunk = next(((at, size) for name, at, size in chunks if name == b"EXIF"), None)
            if exif_chunk is not None and exif_chunk[1] <= EXIF_LIMIT:
                exif = _read(fh, *exif_chunk) or None
        return WebpHeader(
            width=width,
            height=height,
            mode="RGBA" if flags & _VP8X_ALPHA else "RGB",
            exif=exif,
            icc_profile=bool(flags & _VP8X_ICC),
        )
