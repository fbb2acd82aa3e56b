"""Decoding images safely: only the sniffed format, the decompression-bomb limit enforced, errors made clear.

`open_image` opens with Pillow restricted to the format the magic bytes announced, treats Pillow's
DecompressionBombWarning as an error (not just its DecompressionBombError at twice the limit), uses JPEG
draft mode when the caller needs only a smaller image (the decoder then scales by 1/2, 1/4 or 1/8 while
decoding; it must be asked before `load()`, which otherwise decodes at full size), loads the pixels, and
turns the image upright per its EXIF orientation. Corrupt and truncated files become `BadMedia`; so do images
past the limit, with a message naming their size and the configured limit (Pillow's own states twice the limit
past that, the point where it raises rather than warns).
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageOps, UnidentifiedImageError

from imaging.errors import CORRUPT, TOO_LARGE, BadMedia, one_line
from imaging.geometry import upright

if TYPE_CHECKING:
    from pathlib import Path

    from jobcommon.sniff import Sniffed

PILLOW_DECODERS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF", "tiff": "TIFF", "avif": "AVIF"}
"""Sniffed image containers decoded here, and the Pillow plugin (format name) that decodes each."""
ORIENTATION_TAG = 0x0112
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, TypeError)
"""What Pillow's decoders raise on corrupt or truncated input (OSError includes "image file is truncated")."""


@dataclass(frozen=True, slots=True)
class Decoded:
    image: Image.Image
    """Loaded and upright (EXIF orientation applied); possibly reduced by draft mode."""
    format: str
    """Pillow's name of the format (``JPEG``, ``PNG``, …)."""
    size: tuple[int, int]
    """Full upright size of the source, before any draft reduction."""
    orientation: int
    """The EXIF orientation found (1 = none)."""
    icc_profile: bytes | None
    exif: bytes | None
    """EXIF block with the orientation reset (the pixels are upright now)."""
    xmp: bytes | None


def check_pixels(size: tuple[int, int], label: str) -> None:
    """The decompression-bomb limit for pixels that do not come through Image.open (video frames)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and size[0] * size[1] > limit:
        raise _too_large(size, label, limit)


def _too_large(size: tuple[int, int] | None, label: str, limit: int | None) -> BadMedia:
    width, height = size or (0, 0)
    shape = f"{width}x{height} is {width * height} pixels" if size else "the image has too many pixels"
    return BadMedia(TOO_LARGE, f"{label}: {shape}, more than the limit of {limit} pixels")


def open_image(
    path: Path,
    sniffed: Sniffed,
    label: str,
    *,
    needed: Callable[[tuple[int, int]], tuple[int, int]] | None = None,
    check_size: Callable[[tuple[int, int]], None] | None = None,
) -> Decoded:
    """Decode `path` with the Pillow plugin of its sniffed container only. `needed(upright_size)` names the
    smallest upright size the caller can use; `check_size(upright_size)` may refuse the image (raise
    `BadMedia`) before its pixels are decoded."""
    fmt = PILLOW_DECODERS[sniffed.container or ""]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path, formats=[fmt])
            orientation = _orientation(image)
            size = upright(image.size, orientation)
            if check_size is not None:
                try:
                    check_size(size)
                except BadMedia:
                    image.close()
                    raise
            if needed is not None and image.format == "JPEG":
                want = needed(size)
                image.draft(image.mode, upright(want, orientation))
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(_declared_size(path, fmt), label, Image.MAX_IMAGE_PIXELS) from None
    except UnidentifiedImageError:
        raise BadMedia(CORRUPT, f"{label}: not a readable {fmt} image") from None
    except DECODE_ERRORS as exc:
        raise BadMedia(CORRUPT, f"{label}: corrupt {fmt} image ({one_line(str(exc))})") from None
    info = image.info
    xmp = info.get("xmp")
    return Decoded(
        image=image,
        format=fmt,
        size=size,
        orientation=orientation,
        icc_profile=info.get("icc_profile") or None,
        exif=info.get("exif") or None,
        xmp=xmp.encode() if isinstance(xmp, str) else (xmp or None),
    )


def _declared_size(path: Path, fmt: str) -> tuple[int, int] | None:
    """The size `path`'s header declares, read by the `fmt` plugin without Image.open's bomb check (which
    refused it already); None if the header cannot be read."""
    factory, _accept = Image.OPEN[fmt]
    try:
        with path.open("rb") as fp:
            return factory(fp, str(path)).size
    except DECODE_ERRORS:
        return None


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except DECODE_ERRORS:
        return 1  # unreadable EXIF: show the pixels as stored
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
