"""Image facts via Pillow, without decoding pixels: format, size, EXIF orientation and capture time.

`Image.open` reads the header only; `getexif` reads the EXIF segment. Nothing here calls `load()`, so a huge
image costs no more memory than a small one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

if TYPE_CHECKING:
    from pathlib import Path

TAG_ORIENTATION = 0x0112
TAG_DATETIME = 0x0132
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
IFD_EXIF = 0x8769
TAG_DATETIME_ORIGINAL = 0x9003
TAG_DATETIME_DIGITIZED = 0x9004
TAG_OFFSET_TIME_ORIGINAL = 0x9011

_EXIF_DATETIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_ROTATED = frozenset({5, 6, 7, 8})
"""Orientations whose display is the stored image turned by 90°: width and height swap."""


class ImageUnreadableError(Exception):
    """Pillow cannot identify the image, or it is too large to open."""


@dataclass(frozen=True, slots=True)
class ImageFacts:
    format: str
    width: int
    height: int
    mode: str
    orientation: int | None
    """EXIF orientation 1-8 (1 = as stored; 6 = turn 90° clockwise to display), None without EXIF."""
    display_width: int
    display_height: int
    """Size once the orientation is applied."""
    captured_at: datetime | None
    """EXIF DateTimeOriginal (else DateTimeDigitized, else DateTime); timezone-aware only when the camera
    recorded its offset (OffsetTimeOriginal)."""
    camera: str | None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00 ").strip()
    return value or None


def parse_exif_datetime(value: object, offset: object = None) -> datetime | None:
    """``2024:05:06 07:08:09`` (+ ``+02:00``) → datetime; None for blanks (``0000:00:00 ...``) or junk."""
    text = _text(value)
    match = _EXIF_DATETIME.match(text) if text else None
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        moment = datetime(year, month, day, hour, minute, second)  # EXIF time is the camera's local time
    except ValueError:
        return None
    offset_text = _text(offset)
    if offset_text and (found := _OFFSET.match(offset_text)):
        sign = -1 if found.group(1) == "-" else 1
        delta = timedelta(hours=int(found.group(2)), minutes=int(found.group(3)))
        moment = moment.replace(tzinfo=timezone(sign * delta))
    return moment


def image_facts(path: Path) -> ImageFacts:
    """Facts of one image file (blocking: run it in a thread). Raises `ImageUnreadableError`."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            orientation = exif.get(TAG_ORIENTATION)
            orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None
            details = exif.get_ifd(IFD_EXIF)
            captured = (
                parse_exif_datetime(details.get(TAG_DATETIME_ORIGINAL), details.get(TAG_OFFSET_TIME_ORIGINAL))
                or parse_exif_datetime(details.get(TAG_DATETIME_DIGITIZED))
                or parse_exif_datetime(exif.get(TAG_DATETIME))
            )
            camera = " ".join(p for p in (_text(exif.get(TAG_MAKE)), _text(exif.get(TAG_MODEL))) if p) or None
            width, height = im.size
            turned = orientation in _ROTATED
            return ImageFacts(
                format=im.format or "unknown",
                width=width,
                height=height,
                mode=im.mode,
                orientation=orientation,
                display_width=height if turned else width,
                display_height=width if turned else height,
                captured_at=captured,
                camera=camera,
            )
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ImageUnreadableError(str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or malformed headers
        raise ImageUnreadableError(f"cannot read image: {exc}") from None
