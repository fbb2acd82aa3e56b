"""Decoding images safely: only the sniffed format, the decompression-bomb limit enforced, errors made clear.

`open_image` opens with Pillow restricted to the format the magic bytes announced, treats Pillow's
DecompressionBombWarning as an error (not just its DecompressionBombError at twice the limit), uses JPEG
draft mode when the caller needs only a smaller image (the decoder then scales by 1/2, 1/4 or 1/8 while
decoding; it must be asked before `load()`, which otherwise decodes at full size), loads the pixels, and
turns the image upright per its EXIF orientation. Corrupt and truncated files become `BadMedia`.
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
        raise BadMedia(TOO_LARGE, f"{label}: {size[0]}x{size[1]} is more than {limit} pixels")


def open_image(
    path: Path,
    sniffed: Sniffed,
    label: str,
    *,
    needed: Callable[[tuple[int, int]], tuple[int, int]] | None = None,
) -> Decoded:
    """Decode `path` with the Pillow plugin of its sniffed container only. `needed(upright_size)` names the
    smallest upright size the caller can use."""
    fmt = PILLOW_DECODERS[sniffed.container or ""]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path, formats=[fmt])
            orientation = _orientation(image)
            size = upright(image.size, orientation)
            if needed is not None and image.format == "JPEG":
                want = needed(size)
                image.draft(image.mode, upright(want, orientation))
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadMedia(TOO_LARGE, f"{label}: {one_line(str(exc))}") from None
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


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except DECODE_ERRORS:
        return 1  # unreadable EXIF: show the pixels as stored
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
