"""Animated images (GIF, WebP, APNG, AVIF): their frames counted before anything is decoded, then read one at
a time, each as displayed (composited, clipped to the canvas) and upright.

The decompression-bomb limit (``IMAGING_MAX_PIXELS``) covers every frame of an animation together: `check`
refuses frames × width × height past it, and more than `MAX_FRAMES` frames, before the first pixel is decoded.
A GIF's frame count takes reading its whole file (Pillow's `n_frames` walks every frame's headers, some 5 µs a
frame: a 100 MB GIF of tiny frames has millions), so frames are counted only as far as the limits allow.
While frames are read, the pixels actually decoded are counted too: a GIF frame may grow the canvas past its
declared size (Pillow then decodes every later frame at that size).

Multi-page TIFFs are documents, not animations: only their first page is used.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import GifImagePlugin, Image

from imaging.errors import CORRUPT, TOO_LARGE, BadMedia, one_line, too_large

if TYPE_CHECKING:
    from imaging.work import CancelToken

ANIMATED_SOURCES = frozenset({"GIF", "PNG", "WEBP", "AVIF"})
"""Formats (Pillow's names) whose several frames are an animation."""
MAX_FRAMES = 10_000
"""Most frames an animation may have to be converted or resized (each frame costs memory and time of its own,
however small). Thumbnails take the first frame of any animation."""
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""How each EXIF orientation is turned upright (as `PIL.ImageOps.exif_transpose` does)."""
CHECK_EVERY = 16
"""Frames between two looks at the cancel token."""


def is_animated(image: Image.Image) -> bool:
    """Whether an opened (not yet decoded) image is an animation: more than one frame, in a format whose
    frames are one (reads at most the second frame's headers)."""
    return image.format in ANIMATED_SOURCES and bool(getattr(image, "is_animated", False))


def count_frames(image: Image.Image, most: int) -> tuple[int, bool]:
    """(frames, exact) of an opened animation, counting no further than `most + 1`; `exact` is False when the
    count stopped there (the animation has at least that many). Nothing is decoded."""
    if not isinstance(image, GifImagePlugin.GifImageFile):
        frames = int(getattr(image, "n_frames", 1))  # WebP, APNG, AVIF: declared in the header
        return frames, True
    exact = True
    try:
        while image.tell() < most:
            # What GifImageFile.n_frames does (read the next frame's headers, skip its data), but stopping.
            image._seek(image.tell() + 1, update_image=False)
        exact = False
    except EOFError:
        pass
    frames = image.tell() + 1
    image.seek(0)
    return frames, exact


@dataclass(frozen=True, slots=True)
class Frame:
    image: Image.Image
    """RGBA, upright, the size of the animation's canvas."""
    duration_ms: int


@dataclass(slots=True)
class Animation:
    """An opened animated source whose frames were counted and checked against the limits."""

    source: Image.Image
    """The opened file; `frames()` seeks through it."""
    format: str
    frames: int
    loop: int | None
    """Times the animation plays (0: forever) as it is written into WebP and APNG; None: the source does not
    say (as for AVIF, whose loop count Pillow does not read)."""
    orientation: int
    label: str
    limit: int | None

    def each(self, token: CancelToken) -> Iterator[Frame]:
        """Every frame as displayed, upright, in order; stops at the cancel token. Decoding errors become
        `BadMedia`, more decoded pixels than the limit (a GIF frame growing the canvas) ImageTooLarge."""
        source = self.source
        width, height = canvas = source.size  # the first frame's: later GIF frames are clipped to it
        decoded = 0
        for index in range(self.frames):
            if index % CHECK_EVERY == 0:
                token.check()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    source.seek(index)
                    source.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                what = f"frame {index} grows the {width}x{height} canvas to too many pixels"
                raise too_large(self.label, what, self.limit) from None
            except DECODE_ERRORS as exc:
                raise BadMedia(
                    CORRUPT, f"{self.label}: corrupt {self.format} frame {index} ({one_line(str(exc))})"
                ) from None
            decoded += source.size[0] * source.size[1]
            if self.limit is not None and decoded > self.limit:
                raise too_large(
                    self.label, f"its first {index + 1} frames decode to {decoded} pixels", self.limit
                )
            frame = source.convert("RGBA")  # a copy: the next seek draws over the source's pixels
            if frame.size != canvas:
                frame = frame.crop((0, 0, width, height))
            method = TRANSPOSE.get(self.orientation)
            if method is not None:
                frame = frame.transpose(method)
            yield Frame(frame, max(0, round(float(source.info.get("duration") or 0))))

    def close(self) -> None:
        self.source.close()


def loop_of(image: Image.Image) -> int | None:
    """The times an opened animation plays (0: forever), as WebP and APNG count them. A GIF's NETSCAPE loop
    count is the number of repeats after the first play (browsers play ``loop=1`` twice), and a GIF without
    one plays once."""
    loop = image.info.get("loop")
    if image.format == "GIF":
        return 1 if loop is None else (0 if loop == 0 else int(loop) + 1)
    return None if loop is None else int(loop)


def check(image: Image.Image, size: tuple[int, int], label: str, limit: int | None) -> int:
    """The frames of an opened animation whose canvas is `size`, refusing more than `MAX_FRAMES` frames, or
    more pixels in all its frames together than `limit` (ImageTooLarge), before any is decoded."""
    width, height = size
    most = MAX_FRAMES if limit is None else min(MAX_FRAMES, max(1, limit // (width * height)))
    frames, exact = count_frames(image, most)
    counted = f"{frames}" if exact else f"at least {frames}"
    advice = "a thumbnail job takes its first frame"
    if limit is not None and frames * width * height > limit:
        what = f"{counted} frames of {width}x{height} are {frames * width * height} pixels"
        raise too_large(label, what, limit, advice)
    if frames > MAX_FRAMES:
        raise BadMedia(
            TOO_LARGE,
            f"{label}: an animation of {counted} frames; at most {MAX_FRAMES} frames are converted "
            f"({advice})",
        )
    return frames
