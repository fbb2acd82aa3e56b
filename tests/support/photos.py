"""Small photos for metadata tests: JPEGs with EXIF orientation and capture time, a PNG without EXIF."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from pathlib import Path

TAG_ORIENTATION = 0x0112
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
IFD_EXIF = 0x8769
TAG_DATETIME_ORIGINAL = 0x9003
TAG_OFFSET_TIME_ORIGINAL = 0x9011


def make_exif_jpeg(
    path: Path,
    *,
    width: int = 96,
    height: int = 64,
    orientation: int = 6,
    taken: str = "2024:05:06 07:08:09",
    offset: str | None = None,
    camera: tuple[str, str] = ("Acme", "Cam 1"),
) -> Path:
    """A JPEG whose EXIF says how to turn it (`orientation`) and when it was taken (DateTimeOriginal)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[TAG_ORIENTATION] = orientation
    exif[TAG_MAKE], exif[TAG_MODEL] = camera
    details = exif.get_ifd(IFD_EXIF)
    details[TAG_DATETIME_ORIGINAL] = taken
    if offset is not None:
        details[TAG_OFFSET_TIME_ORIGINAL] = offset
    with Image.new("RGB", (width, height), (200, 40, 40)) as image:
        image.save(path, "JPEG", exif=exif, quality=80)
    return path


def make_png(path: Path, *, width: int = 40, height: int = 30) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with Image.new("RGBA", (width, height), (0, 120, 200, 255)) as image:
        image.save(path, "PNG")
    return path
