"""Colour: image modes and ICC profiles, from whatever was decoded to what the output format can hold.

- Working mode: everything is resampled as L, LA, RGB or RGBA (palette, 1-bit, 16-bit, CMYK and the rest
  are converted first); alpha is resampled premultiplied, so transparent pixels do not bleed dark fringes.
- Profiles: CMYK always becomes RGB, through its ICC profile when it has one. When metadata is kept, the
  source's profile is kept with the pixels it describes; when metadata is stripped, pixels are converted to
  sRGB first (unless already sRGB), so dropping the profile does not shift the colours.
- Output mode: JPEG has no alpha (flattened onto the background), WebP has no grey modes.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageCms

from imaging.encode import OutputFormat

log = logging.getLogger("mediajobs.imaging.colour")

RGBA = tuple[int, int, int, int]
WHITE: RGBA = (255, 255, 255, 255)
TRANSPARENT: RGBA = (0, 0, 0, 0)
ALPHA_FORMATS = frozenset({"png", "webp", "avif"})
PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}


@dataclass(frozen=True, slots=True)
class Prepared:
    image: Image.Image
    """In L, LA, RGB or RGBA."""
    icc_profile: bytes | None
    """The profile describing `image`'s pixels, to embed when metadata is kept (None: sRGB/untagged)."""


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@lru_cache(maxsize=32)
def _is_srgb(icc: bytes) -> bool:
    try:
        return "srgb" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).lower()
    except (ImageCms.PyCMSError, OSError, ValueError):
        return False


def _to_srgb(image: Image.Image, icc: bytes, mode: str) -> Image.Image | None:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, source, _srgb(), outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.debug("ICC conversion failed (%s); converting without the profile", exc)
        return None
    assert converted is not None
    return converted


def _deep_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit grey (I;16, I, F) to 8-bit, scaling the value range instead of clipping it."""
    pixels = np.asarray(image, dtype=np.float64)
    top = float(pixels.max()) if pixels.size else 0.0
    scale = 255.0 / (65535.0 if top > 255 and image.mode.startswith("I;16") else max(top, 255.0))
    return Image.fromarray(np.clip(pixels * scale, 0, 255).astype(np.uint8), "L")


def working(image: Image.Image, icc: bytes | None, *, keep_profile: bool) -> Prepared:
    """Convert a decoded image to a working mode, handling its ICC profile as described above."""
    mode = image.mode
    if mode == "CMYK":
        rgb = _to_srgb(image, icc, "RGB") if icc else None
        if rgb is not None:
            return Prepared(rgb, _srgb().tobytes() if keep_profile else None)
        return Prepared(image.convert("RGB"), None)
    if mode in ("1", "L", "LA", "RGB", "RGBA"):
        converted = image.convert("L") if mode == "1" else image
    elif mode in ("P", "PA"):
        converted = image.convert("RGBA" if image.has_transparency_data else "RGB")
    elif mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        converted = _deep_to_l(image)
    elif mode in ("La", "RGBa"):
        converted = image.convert(mode.upper())
    else:  # RGBX, YCbCr, LAB, HSV, ...
        converted = image.convert("RGBA" if image.has_transparency_data else "RGB")
    if icc is None or keep_profile:
        return Prepared(converted, icc)
    if converted.mode in ("RGB", "RGBA") and not _is_srgb(icc):
        srgb = _to_srgb(converted, icc, converted.mode)
        if srgb is not None:
            return Prepared(srgb, None)
    return Prepared(converted, None)


def resample(
    image: Image.Image,
    size: tuple[int, int],
    region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
) -> Image.Image:
    """Lanczos resampling of `region` (fractions of `image`) to `size`, alpha premultiplied."""
    width, height = image.size
    box = (region[0] * width, region[1] * height, region[2] * width, region[3] * height)
    if size == image.size and box == (0.0, 0.0, float(width), float(height)):
        return image
    premultiplied = PREMULTIPLIED.get(image.mode)
    source = image.convert(premultiplied) if premultiplied else image
    out = source.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    return out.convert(image.mode) if premultiplied else out


def background_for(fmt: OutputFormat, requested: RGBA | None) -> RGBA:
    """Padding colour: as requested, else transparent where the format has alpha, else white."""
    if requested is not None:
        return requested
    return TRANSPARENT if fmt in ALPHA_FORMATS else WHITE


def pad(image: Image.Image, canvas: tuple[int, int], offset: tuple[int, int], colour: RGBA) -> Image.Image:
    """`image` centred on a `canvas` of `colour`. The colour fills the padding only: the image's own pixels,
    alpha included, are copied as they are (a JPEG output flattens them later)."""
    if image.size == canvas:
        return image
    mode = image.mode
    if colour[3] < 255 and mode in ("L", "RGB"):
        mode += "A"  # transparent padding needs an alpha channel
    base = Image.new("RGBA", canvas, colour)
    if mode != "RGBA":
        base = base.convert(mode)
    base.paste(image.convert(mode), offset)
    return base


def for_format(image: Image.Image, fmt: OutputFormat, background: RGBA = WHITE) -> Image.Image:
    """The image in a mode the format can store: JPEG flattens alpha, WebP has no grey modes."""
    mode = image.mode
    if fmt == "jpeg" and mode in ("LA", "RGBA"):
        flat = Image.new(
            "RGB" if mode == "RGBA" else "L",
            image.size,
            background[:3] if mode == "RGBA" else _grey(background),
        )
        flat.paste(image, (0, 0), image.getchannel("A"))
        return flat
    if fmt == "webp" and mode in ("L", "LA"):
        return image.convert("RGBA" if mode == "LA" else "RGB")
    return image


def _grey(colour: RGBA) -> int:
    r, g, b, _ = colour
    return round(0.299 * r + 0.587 * g + 0.114 * b)


def parse_colour(value: str | None) -> RGBA | None:
    """`#rrggbb` or `#rrggbbaa` to RGBA (the request model validated the form)."""
    if value is None:
        return None
    digits = value.lstrip("#")
    channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
    if len(channels) == 3:
        channels.append(255)
    r, g, b, a = channels
    return r, g, b, a
