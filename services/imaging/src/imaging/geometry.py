"""Output geometry: how big each output is and which part of the source it shows (fit, fill, pad).

Sizes are computed from the source's full, upright size, so they do not depend on how the source was
decoded (JPEG draft mode may decode it at 1/2, 1/4 or 1/8 scale). The source region is kept as fractions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Fit = Literal["fit", "fill", "pad"]


@dataclass(frozen=True, slots=True)
class Plan:
    scaled: tuple[int, int]
    """Size the source region is resampled to."""
    region: tuple[float, float, float, float]
    """Part of the source used, as fractions (left, top, right, bottom); (0, 0, 1, 1) is all of it."""
    canvas: tuple[int, int]
    """Size of the output image (larger than `scaled` only for `pad`)."""
    offset: tuple[int, int]
    """Where `scaled` goes on the canvas."""

    @property
    def decode_at_least(self) -> tuple[int, int]:
        """The smallest full-source size that still gives `scaled` its full detail (for draft mode)."""
        left, top, right, bottom = self.region
        return (
            math.ceil(self.scaled[0] / max(right - left, 1e-9)),
            math.ceil(self.scaled[1] / max(bottom - top, 1e-9)),
        )


def contain(size: tuple[int, int], box: tuple[int, int], *, upscale: bool = False) -> tuple[int, int]:
    """The largest size of `size`'s aspect ratio inside `box` (never larger than `size` unless upscale)."""
    width, height = size
    scale = min(box[0] / width, box[1] / height)
    if not upscale:
        scale = min(scale, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def plan(size: tuple[int, int], box: tuple[int, int], mode: Fit, *, upscale: bool = False) -> Plan:
    """Geometry of one output of a `size` source for a `box` spec.

    - fit: inside the box, aspect kept; output may be smaller than the box in one dimension.
    - fill: exactly the box; the source is scaled to cover it and the centre cropped (enlarged if needed).
    - pad: exactly the box; the source fits inside, centred on a background.
    """
    full = (0.0, 0.0, 1.0, 1.0)
    if mode == "fit":
        scaled = contain(size, box, upscale=upscale)
        return Plan(scaled, full, scaled, (0, 0))
    if mode == "pad":
        scaled = contain(size, box, upscale=upscale)
        offset = ((box[0] - scaled[0]) // 2, (box[1] - scaled[1]) // 2)
        return Plan(scaled, full, box, offset)
    width, height = size
    source_ratio, box_ratio = width / height, box[0] / box[1]
    if source_ratio > box_ratio:  # wider than the box: crop left and right
        keep = box_ratio / source_ratio
        region = ((1 - keep) / 2, 0.0, (1 + keep) / 2, 1.0)
    else:  # taller: crop top and bottom
        keep = source_ratio / box_ratio
        region = (0.0, (1 - keep) / 2, 1.0, (1 + keep) / 2)
    return Plan(box, region, box, (0, 0))


def bounding(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """A thumbnail size: the longest side at most `longest`, aspect kept, never enlarged."""
    return contain(size, (longest, longest))


def upright(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The displayed size of a stored image with this EXIF orientation (5–8 swap the axes)."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size
