"""The pixel caps on what a job writes (`jobcommon.requests.imaging`), checked once a source's size is known.

What the request alone decides (a `fill` or `pad` box) was refused at submission already; what depends on the
source is checked here, before anything is resampled or encoded: a `fit` box on a large image, a storyboard
of a long or tall video, an image optimized into a format whose sides are too short for it (`check_sides`).
Past a cap the source fails with `BadMedia` (``OutputTooLarge``), a permanent error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imaging.encode import MAX_SIDE, PILLOW_NAMES
from imaging.errors import OUTPUT_TOO_LARGE, BadMedia
from jobcommon.requests.imaging import MAX_JOB_OUTPUT_PIXELS, MAX_OUTPUT_PIXELS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from imaging.encode import OutputFormat


def check_outputs(sizes: Iterable[tuple[int, int]], label: str, *, advice: str = "", frames: int = 1) -> None:
    """Raise `BadMedia` unless every (width, height) is within `MAX_OUTPUT_PIXELS` and all of them
    together within `MAX_JOB_OUTPUT_PIXELS`; `label` names the source, `advice` says what to ask instead.
    Outputs of an animation hold `frames` frames each: every frame is an image (within the per-image cap),
    and all of them count towards the job's."""
    hint = f" ({advice})" if advice else ""
    total = 0
    for width, height in sizes:
        pixels = width * height
        if pixels > MAX_OUTPUT_PIXELS:
            raise BadMedia(
                OUTPUT_TOO_LARGE,
                f"{label}: a {width}x{height} output is {pixels} pixels; "
                f"at most {MAX_OUTPUT_PIXELS} per image{hint}",
            )
        total += pixels * frames
    if total > MAX_JOB_OUTPUT_PIXELS:
        each = f" ({frames} frames each)" if frames > 1 else ""
        raise BadMedia(
            OUTPUT_TOO_LARGE,
            f"{label}: the outputs{each} would be {total} pixels together; "
            f"at most {MAX_JOB_OUTPUT_PIXELS} per job{hint}",
        )


MAX_ANIMATED_OUTPUT_PIXELS = 40_000_000
"""Most pixels an animated resize writes: every frame of every output together (frames × width × height,
summed over the outputs). Each output frame is held in memory (RGBA, 4 bytes a pixel: some 160 MB) until its
animation is encoded, so the limit is on them all, checked before any frame is resampled."""


def check_animated_outputs(sizes: Iterable[tuple[int, int]], frames: int, label: str) -> None:
    """Raise `BadMedia` (``OutputTooLarge``) if the outputs at `sizes`, `frames` frames each, are past
    `MAX_ANIMATED_OUTPUT_PIXELS` together; a source's frames cannot be dropped, so the advice is a smaller
    size or a thumbnail."""
    canvases = list(sizes)
    total = frames * sum(width * height for width, height in canvases)
    if total > MAX_ANIMATED_OUTPUT_PIXELS:
        shapes = ", ".join(f"{width}x{height}" for width, height in canvases)
        raise BadMedia(
            OUTPUT_TOO_LARGE,
            f"{label}: {frames} frames at {shapes} would be {total} output pixels; an animated resize "
            f"writes at most {MAX_ANIMATED_OUTPUT_PIXELS} pixels over all its frames and outputs (ask for "
            f"smaller specs, at most {MAX_ANIMATED_OUTPUT_PIXELS // frames} pixels per frame in all, or a "
            "thumbnail job for its first frame)",
        )


def check_sides(sizes: Iterable[tuple[int, int]], fmt: OutputFormat, label: str) -> None:
    """Raise `BadMedia` if a (width, height) is wider or taller than `fmt` holds (`imaging.encode.MAX_SIDE`),
    naming the formats that would hold it."""
    limit = MAX_SIDE[fmt]
    for width, height in sizes:
        side = max(width, height)
        if side > limit:
            holding = ", ".join(f for f, most in MAX_SIDE.items() if side <= most)  # PNG's: any image
            raise BadMedia(
                OUTPUT_TOO_LARGE,
                f"{label}: a {width}x{height} image cannot be written as {PILLOW_NAMES[fmt]}, which holds "
                f"at most {limit} pixels a side (formats that hold it: {holding})",
            )
