"""yt-dlp's info dicts are loosely typed (a width may be a float, a title a number, a size missing): these
read one value as the type wanted, or None. Booleans, NaN and infinities are never numbers here."""

from __future__ import annotations

import math


def as_int(value: object) -> int | None:
    """An int, or a finite float rounded to the nearest int."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    return None


def as_float(value: object) -> float | None:
    """A finite int or float, as a float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def as_str(value: object) -> str | None:
    """A non-empty string, as it is."""
    return value if isinstance(value, str) and value else None
