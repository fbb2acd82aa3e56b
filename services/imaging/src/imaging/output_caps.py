"""The pixel caps on what a job writes (`jobcommon.requests.imaging`), checked once a source's size is known.

What the request alone decides (a `fill` or `pad` box) was refused at submission already; what depends on the
source is checked here, before anything is resampled or encoded: a `fit` box on a large image, a storyboard
of a long or tall video. Past a cap the source fails with `BadMedia` (``OutputTooLarge``), a permanent error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imaging.errors import OUTPUT_TOO_LARGE, BadMedia
from jobcommon.requests.imaging import MAX_JOB_OUTPUT_PIXELS, MAX_OUTPUT_PIXELS

if TYPE_CHECKING:
    from collections.abc import Iterable


def check_outputs(sizes: Iterable[tuple[int, int]], label: str, *, advice: str = "") -> None:
    """Raise `BadMedia` unless every (width, height) is within `MAX_OUTPUT_PIXELS` and all of them
    together within `MAX_JOB_OUTPUT_PIXELS`; `label` names the source, `advice` says what to ask instead."""
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
        total += pixels
    if total > MAX_JOB_OUTPUT_PIXELS:
        raise BadMedia(
            OUTPUT_TOO_LARGE,
            f"{label}: the outputs would be {total} pixels together; "
            f"at most {MAX_JOB_OUTPUT_PIXELS} per job{hint}",
        )
