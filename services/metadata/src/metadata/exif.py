"""What an image's EXIF says: orientation, capture time and camera (`metadata.image_header` reads it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

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


@dataclass(frozen=True, slots=True)
class ExifFacts:
    orientation: int | None
    """EXIF orientation 1-8 (1 = as stored; 6 = turn 90° clockwise to display), None without EXIF."""
    captured_at: datetime | None
    """EXIF DateTimeOriginal (else DateTimeDigitized, else DateTime); timezone-aware only when the camera
    recorded its offset (OffsetTimeOriginal)."""
    camera: str | None

    def display_size(self, width: int, height: int) -> tuple[int, int]:
        """The size of a `width` x `height` image once the orientation is applied."""
        return (height, width) if self.orientation in _ROTATED else (width, height)


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


def exif_facts(exif: Image.Exif) -> ExifFacts:
    """Orientation, capture time and camera of an image's EXIF (Pillow's `getexif()`; a TIFF's is read from
    its open file, so call this before the image is closed)."""
    orientation = exif.get(TAG_ORIENTATION)
    details = exif.get_ifd(IFD_EXIF)
    captured = (
        parse_exif_datetime(details.get(TAG_DATETIME_ORIGINAL), details.get(TAG_OFFSET_TIME_ORIGINAL))
        or parse_exif_datetime(details.get(TAG_DATETIME_DIGITIZED))
        or parse_exif_datetime(exif.get(TAG_DATETIME))
    )
    return ExifFacts(
        orientation=orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None,
        captured_at=captured,
        camera=" ".join(p for p in (_text(exif.get(TAG_MAKE)), _text(exif.get(TAG_MODEL))) if p) or None,
    )
