"""An image's facts from its header, however many pixels it has: format, size, mode, ICC profile, EXIF.

The metadata probe never decodes pixels, so Pillow's decompression-bomb limit (`Image.open` refuses an image
of more than twice ``Image.MAX_IMAGE_PIXELS``, warns past once) does not apply to it: a 20000 x 20000 scan is
described like a thumbnail. The file is opened with the Pillow plugin of the container `jobcommon.sniff`
named (no other plugin tries it), which reads the header only; nothing here calls ``load()``. The limit
itself is untouched: whatever decodes pixels (the imaging service) still opens through `Image.open` and its
own checks. Two formats need care to stay header-only:

* PNG: Pillow's `getexif` decodes the whole image when no ``eXIf`` chunk came before the image data (a
  64-megapixel PNG took 2.6 s and 256 MB for its EXIF); the chunks after the image data are walked by their
  headers instead (`PNG_CHUNK_LIMIT`), the ``eXIf`` chunk read up to `EXIF_LIMIT` bytes;
* WebP: Pillow's plugin creates libwebp's decoder at open, which allocates the whole canvas; its RIFF
  headers are read instead (`metadata.webp_header`).

HEIC/HEIF have no Pillow plugin here: they are reported unreadable.
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from PIL import (
    AvifImagePlugin,
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
)

from metadata.exif import ExifFacts, exif_facts
from metadata.webp_header import WebpHeaderError, read_webp_header

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from pathlib import Path

PNG_CHUNK_LIMIT = 100_000
"""PNG chunks walked at most looking for an ``eXIf`` chunk after the image data (Pillow writes one ``IDAT``
chunk per 64 KB: a 1.6 GB image has 25,000)."""
EXIF_LIMIT = 4 * 1024 * 1024
"""Bytes of a PNG ``eXIf`` chunk read after the image data (a camera's EXIF has at most 64 KB)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NO_EXIF = ExifFacts(orientation=None, captured_at=None, camera=None)
_EXIF_ERRORS = (SyntaxError, ValueError, OSError, KeyError, IndexError, TypeError, struct.error)
"""What Pillow raises on malformed EXIF (the image's other facts still count)."""
_HEADER_ERRORS = (SyntaxError, ValueError, OSError, EOFError, struct.error, Image.DecompressionBombError)
"""What a plugin raises on a header it cannot read (GIF's checks a first frame larger than the canvas)."""


class ImageUnreadableError(Exception):
    """The image's header cannot be read (corrupt, truncated, or a format no plugin here reads)."""


@dataclass(frozen=True, slots=True)
class ImageFacts:
    format: str
    width: int
    height: int
    mode: str
    """Pillow's name of its pixels' layout: ``1``, ``L``, ``P``, ``RGB``, ``RGBA``, ``CMYK``, ``I;16`` ..."""
    icc_profile: bool
    """Whether it embeds an ICC colour profile."""
    orientation: int | None
    """EXIF orientation 1-8 (1 = as stored; 6 = turn 90° clockwise to display), None without EXIF."""
    display_width: int
    display_height: int
    """Size once the orientation is applied."""
    captured_at: datetime | None
    camera: str | None


def _jpeg(fh: BinaryIO, name: str) -> ImageFile.ImageFile:
    try:
        return JpegImagePlugin.jpeg_factory(fh, name)  # a JPEG, or an MPO (several pictures, e.g. 3D)
    except Image.DecompressionBombError:  # the MPO plugin checks its pictures' size itself: the first one
        fh.seek(0)
        return JpegImagePlugin.JpegImageFile(fh, name)


_PLUGINS: dict[str, Callable[[BinaryIO, str], ImageFile.ImageFile]] = {
    "jpeg": _jpeg,
    "png": PngImagePlugin.PngImageFile,
    "gif": GifImagePlugin.GifImageFile,
    "tiff": TiffImagePlugin.TiffImageFile,
    "bmp": BmpImagePlugin.BmpImageFile,
    "avif": AvifImagePlugin.AvifImageFile,
}
"""The Pillow plugin that reads each image container `jobcommon.sniff` names (WebP: `metadata.webp_header`).
Constructing one reads the header, without `Image.open`'s pixel-count check."""


def image_facts(path: Path, container: str | None) -> ImageFacts:
    """Facts of the image at `path`, sniffed as `container`, from its header (blocking: run it in a thread).
    Raises `ImageUnreadableError`, OSError when the file cannot be read at all."""
    if container == "webp":
        return _webp_facts(path)
    plugin = _PLUGINS.get(container or "")
    if plugin is None:
        raise ImageUnreadableError(f"{(container or 'this format').upper()} images are not read here")
    with path.open("rb") as fh:
        try:
            image = plugin(fh, path.name)
        except _HEADER_ERRORS as exc:
            raise ImageUnreadableError(f"cannot read its header: {exc}") from None
        with image:
            exif = _exif_facts(image, fh)
            width, height = image.size
            display_width, display_height = exif.display_size(width, height)
            return ImageFacts(
                format=image.format or container or "unknown",
                width=width,
                height=height,
                mode=image.mode,
                icc_profile=bool(image.info.get("icc_profile")),
                orientation=exif.orientation,
                display_width=display_width,
                display_height=display_height,
                captured_at=exif.captured_at,
                camera=exif.camera,
            )


def _exif_facts(image: ImageFile.ImageFile, fh: BinaryIO) -> ExifFacts:
    """What the image's EXIF says, without decoding it; nothing when the EXIF is malformed."""
    try:
        if isinstance(image, PngImagePlugin.PngImageFile):
            if "exif" not in image.info and (late := _png_late_exif(fh)) is not None:
                image.info["exif"] = b"Exif\x00\x00" + late  # as Pillow's own eXIf reader stores it
            return exif_facts(Image.Image.getexif(image))  # not PNG's own: it decodes to look further
        return exif_facts(image.getexif())
    except _EXIF_ERRORS:
        return _NO_EXIF


def _png_late_exif(fh: BinaryIO) -> bytes | None:
    """The content of a PNG's ``eXIf`` chunk, walking the chunks by their headers (the spec lets it follow
    the image data, where Pillow's header read stops); None without one, or past the limits."""
    offset = len(_PNG_SIGNATURE)
    for _ in range(PNG_CHUNK_LIMIT):
        fh.seek(offset)
        header = fh.read(8)
        if len(header) < 8 or header[4:8] == b"IEND":
            return None
        size = int.from_bytes(header[0:4], "big")
        if header[4:8] == b"eXIf":
            return fh.read(size) if size <= EXIF_LIMIT else None
        offset += 12 + size  # length, type, content, CRC
    return None


def _webp_facts(path: Path) -> ImageFacts:
    try:
        header = read_webp_header(path)
    except WebpHeaderError as exc:
        raise ImageUnreadableError(str(exc)) from None
    exif = _NO_EXIF
    if header.exif is not None:
        with contextlib.suppress(*_EXIF_ERRORS):
            loaded = Image.Exif()
            loaded.load(header.exif)
            exif = exif_facts(loaded)
    display_width, display_height = exif.display_size(header.width, header.height)
    return ImageFacts(
        format="WEBP",
        width=header.width,
        height=header.height,
        mode=header.mode,
        icc_profile=header.icc_profile,
        orientation=exif.orientation,
        display_width=display_width,
        display_height=display_height,
        captured_at=exif.captured_at,
        camera=exif.camera,
    )
