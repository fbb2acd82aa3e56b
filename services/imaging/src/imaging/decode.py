"""Decoding images safely: only the sniffed format, the decompression-bomb limit enforced, errors made clear.

`open_image` opens with Pillow restricted to the format the magic bytes announced, treats Pillow's
DecompressionBombWarning as an error (not just its DecompressionBombError at twice the limit), uses JPEG
draft mode when the caller needs only a smaller image (the decoder then scales by 1/2, 1/4 or 1/8 while
decoding; it must be asked before `load()`, which otherwise decodes at full size), loads the pixels, and
turns the image upright per its EXIF orientation. Corrupt and truncated files become `BadMedia`; so do images
past the limit, with a message naming their size, the configured limit and the setting that raises it
(Pillow's own states twice the limit past that, the point where it raises rather than warns). A JPEG past the
limit is still decoded for a smaller output when a reduced decode is within it (`DRAFT_HEADROOM`), unless it
is progressive. Animated sources are read frame by frame through `imaging.animation`, all their frames
together within the limit.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from imaging import animation
from imaging.encode import ANIMATED, PILLOW_NAMES
from imaging.errors import CORRUPT, NOT_ANIMATED, BadMedia, one_line, too_large
from imaging.geometry import upright

if TYPE_CHECKING:
    from pathlib import Path

    from imaging.animation import Animation
    from imaging.encode import OutputFormat
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
    animated: bool = False
    """The source is an animation (GIF, WebP, APNG, AVIF); `image` is its first frame."""
    animation: Animation | None = None
    """Its frames, when the caller asked to keep them (`open_image`'s `animation_to`)."""


DRAFT_HEADROOM = 4
"""A JPEG with up to this many times the pixel limit is still decoded when the caller needs a smaller image
(thumbnails, smaller resizes): at 1/2, 1/4 or 1/8 scale (JPEG draft mode), as long as that is within the
limit. A 108 MP phone photo (12000x9000) is thumbnailed from a 1500x1125 decode; a bigger one, a progressive
JPEG (libjpeg keeps all its coefficients at full size whatever the scale), any other format past the limit,
and any image the caller needs at full size (`image_optimize`) are refused before their pixels are decoded."""


def check_pixels(size: tuple[int, int], label: str) -> None:
    """The decompression-bomb limit for pixels that do not come through Image.open (video frames)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and size[0] * size[1] > limit:
        raise _too_large(size, label, limit)


def _too_large(size: tuple[int, int] | None, label: str, limit: int | None, advice: str = "") -> BadMedia:
    width, height = size or (0, 0)
    shape = f"{width}x{height} is {width * height} pixels" if size else "the image has too many pixels"
    return too_large(label, shape, limit, advice)


def _reduced_advice(size: tuple[int, int], limit: int) -> str:
    """What a JPEG past the limit (but within `DRAFT_HEADROOM` of it) can still give: outputs small enough
    for a reduced decode within the limit."""
    width, height = size
    if width * height > DRAFT_HEADROOM * limit:
        return ""
    for scale in (2, 4, 8):
        if -(-width // scale) * -(-height // scale) <= limit:
            return (
                f"as a JPEG it can still be thumbnailed or resized to at most {width // scale}x"
                f"{height // scale} (decoded at 1/{scale} scale)"
            )
    return ""


def open_image(
    path: Path,
    sniffed: Sniffed,
    label: str,
    *,
    needed: Callable[[tuple[int, int]], tuple[int, int]] | None = None,
    check_size: Callable[[tuple[int, int]], None] | None = None,
    animation_to: OutputFormat | None = None,
) -> Decoded:
    """Decode `path` with the Pillow plugin of its sniffed container only. `needed(upright_size)` names the
    smallest upright size the caller can use (a JPEG is then decoded at reduced scale, and may have up to
    `DRAFT_HEADROOM` times the pixel limit); `check_size(upright_size)` may refuse the image (raise
    `BadMedia`) before its pixels are decoded.

    An animated source: with `animation_to` None (thumbnails) only its first frame is used
    (`Decoded.animated` says so); with the output format every frame goes into, its frames are counted and
    checked against the limits (`imaging.animation.check`) and `Decoded.animation` reads them; an output
    format that holds one frame (JPEG) is refused (``AnimationNotSupported``)."""
    fmt = PILLOW_DECODERS[sniffed.container or ""]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _open(path, fmt, label, reducible=needed is not None)
            try:
                return _decode(image, fmt, label, needed, check_size, animation_to)
            except BaseException:
                image.close()
                raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(_declared_size(path, fmt), label, Image.MAX_IMAGE_PIXELS) from None
    except UnidentifiedImageError:
        raise BadMedia(CORRUPT, f"{label}: not a readable {fmt} image") from None
    except DECODE_ERRORS as exc:
        raise BadMedia(CORRUPT, f"{label}: corrupt {fmt} image ({one_line(str(exc))})") from None


def _open(path: Path, fmt: str, label: str, *, reducible: bool) -> Image.Image:
    """The image opened (header read, nothing decoded). Past the pixel limit Pillow refuses to open it; a JPEG
    the caller may decode at reduced scale (`reducible`) within `DRAFT_HEADROOM` of the limit is opened
    without Pillow's check instead: `_decode` checks the size it is decoded at."""
    limit = Image.MAX_IMAGE_PIXELS
    try:
        return Image.open(path, formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        jpeg = _jpeg_header(path) if fmt == "JPEG" else None
        if jpeg is None or limit is None:
            raise _too_large(_declared_size(path, fmt), label, limit) from None
    size = jpeg.size
    if _progressive(jpeg):  # libjpeg holds its full-size coefficients whatever the draft scale
        jpeg.close()
        raise _too_large(size, label, limit)
    if not reducible or size[0] * size[1] > DRAFT_HEADROOM * limit:
        jpeg.close()
        raise _too_large(size, label, limit, _reduced_advice(size, limit))
    return jpeg


def _jpeg_header(path: Path) -> JpegImagePlugin.JpegImageFile | None:
    """`path` opened as a JPEG (its headers read, nothing decoded) without Image.open's pixel check; None if
    its headers cannot be read."""
    try:
        return JpegImagePlugin.JpegImageFile(path)
    except DECODE_ERRORS:
        return None


def _progressive(image: Image.Image) -> bool:
    """Whether an opened JPEG is progressive (Pillow sets both keys for SOF2, SOF6, SOF10 and SOF14)."""
    return bool(image.info.get("progressive") or image.info.get("progression"))


def _decode(
    image: Image.Image,
    fmt: str,
    label: str,
    needed: Callable[[tuple[int, int]], tuple[int, int]] | None,
    check_size: Callable[[tuple[int, int]], None] | None,
    animation_to: OutputFormat | None,
) -> Decoded:
    limit = Image.MAX_IMAGE_PIXELS
    orientation = _orientation(image)
    size = upright(image.size, orientation)
    if check_size is not None:
        check_size(size)
    animated = animation.is_animated(image)
    kept: animation.Animation | None = None
    if animated and animation_to is not None:
        if animation_to not in ANIMATED:
            raise BadMedia(
                NOT_ANIMATED,
                f"{label}: an animated {fmt} cannot be written as {PILLOW_NAMES[animation_to]}, which holds "
                "a single frame; ask for webp, png (APNG) or avif to keep the animation, or a thumbnail job "
                "for its first frame",
            )
        count = animation.check(image, image.size, label, limit)
        loop = animation.loop_of(image)
        kept = animation.Animation(image, fmt, count, loop, orientation, label, limit)
    if needed is not None and isinstance(image, JpegImagePlugin.JpegImageFile):
        image.draft(image.mode, upright(needed(size), orientation))
    if limit is not None and image.size[0] * image.size[1] > limit:  # a JPEG opened past the limit
        raise _too_large(size, label, limit, _reduced_advice(size, limit))
    image.load()
    first = image if kept is None else image.copy()  # an animation's source stays as it is (frames from it)
    ImageOps.exif_transpose(first, in_place=True)
    info = first.info  # its EXIF (and XMP) without the orientation: the pixels are upright now
    xmp = info.get("xmp")
    return Decoded(
        image=first,
        format=fmt,
        size=size,
        orientation=orientation,
        icc_profile=info.get("icc_profile") or None,
        exif=info.get("exif") or None,
        xmp=xmp.encode() if isinstance(xmp, str) else (xmp or None),
        animated=animated,
        animation=kept,
    )


def _declared_size(path: Path, fmt: str) -> tuple[int, int] | None:
    """The size `path`'s header declares, read by the `fmt` plugin without Image.open's bomb check (which
    refused it already); None if the header cannot be read."""
    factory, _accept = Image.OPEN[fmt]
    try:
        with path.open("rb") as fp:
            return factory(fp, str(path)).size
    except Image.DecompressionBombError:  # WebP's plugin checks the size it reads itself, before decoding
        return _webp_size(path) if fmt == "WEBP" else None
    except DECODE_ERRORS:
        return None


def _webp_size(path: Path) -> tuple[int, int] | None:
    """The canvas size a WebP's first chunk header declares (VP8, VP8L or VP8X), read as Pillow reads it."""
    with path.open("rb") as fp:
        head = fp.read(30)
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except DECODE_ERRORS:
        return 1  # unreadable EXIF: show the pixels as stored
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
