"""Encoding: one image to one file in JPEG, WebP, AVIF or PNG, with chosen metadata and quality.

Nothing is carried over implicitly: the output gets exactly the metadata passed in (none when stripping),
whatever the decoded image's `info` held.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pathlib import Path

    from PIL import Image

OutputFormat = Literal["jpeg", "webp", "avif", "png"]

EXTENSIONS: dict[OutputFormat, str] = {"jpeg": "jpg", "webp": "webp", "avif": "avif", "png": "png"}
PILLOW_NAMES: dict[OutputFormat, str] = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF", "png": "PNG"}
KEEP: dict[str, OutputFormat] = {
    "JPEG": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
    "AVIF": "avif",
    "GIF": "png",
    "TIFF": "png",
}
"""`format: keep`: the source's own format, or PNG for sources in a format we do not write (GIF, TIFF)."""
MAX_SIDE: dict[OutputFormat, int] = {"jpeg": 65_500, "webp": 16_383, "avif": 32_768, "png": 2**31 - 1}
"""Widest and tallest image each format is written at: libjpeg's limit (the JPEG header would take 65535);
WebP's 14-bit sides; AVIF: AV1 encodes up to 65536, but libavif refuses to decode more than 32768 by default
(Pillow's reader among them), so a wider file could not be read back; PNG's 31-bit sides. Past these the
encoders fail (WebP: ValueError, JPEG: OSError) or write what cannot be opened."""


@dataclass(frozen=True, slots=True)
class Metadata:
    """What to embed in an output; all None strips everything."""

    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None


STRIPPED = Metadata()


def file_name(stem: str, fmt: OutputFormat) -> str:
    return f"{stem}.{EXTENSIONS[fmt]}"


def save(
    image: Image.Image,
    path: Path,
    fmt: OutputFormat,
    *,
    quality: int,
    metadata: Metadata = STRIPPED,
    effort: Literal["fast", "small"] = "fast",
) -> int:
    """Write `image` (already in a mode the format holds) and return the file's size in bytes.

    `effort="small"` spends more CPU for smaller files (optimize jobs); `"fast"` suits thumbnails.
    """
    small = effort == "small"
    options: dict[str, Any] = {}
    if fmt == "jpeg":
        options = {"quality": quality, "optimize": small, "progressive": small}
    elif fmt == "webp":
        options = {"quality": quality, "method": 6 if small else 4}
    elif fmt == "avif":
        options = {"quality": quality, "speed": 4 if small else 8}
    else:
        options = {"optimize": small} if small else {"compress_level": 6}
    if metadata.icc_profile:
        options["icc_profile"] = metadata.icc_profile
    else:
        options["icc_profile"] = None
    if metadata.exif:
        options["exif"] = metadata.exif
    if metadata.xmp:
        options["xmp"] = metadata.xmp
    image.info = {}  # nothing implicit (PNG and AVIF would copy a profile from `info`, JPEG a comment)
    image.save(path, PILLOW_NAMES[fmt], **options)
    return path.stat().st_size
