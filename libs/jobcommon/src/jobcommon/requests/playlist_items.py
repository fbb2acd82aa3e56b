"""A playlist download's `items`: yt-dlp's ``--playlist-items`` selection, checked at submission.

The syntax is yt-dlp's own (``yt_dlp.utils.PlaylistEntries.parse_playlist_items``, mirrored here so that the
gateway need not import yt-dlp): comma-separated parts, each ``[start][(:|-)[end][:step]]`` where start and
end are signed integers (negative: counted from the last entry) and end may be ``inf``. yt-dlp reads a part
as 1-based and inclusive at both ends (``PlaylistEntries.__getitem__``): ``2-4`` is entries 2, 3, 4, ``-3:``
the last three, ``::-1`` every entry last first.

yt-dlp refuses a malformed part and a zero step; a part that selects nothing (``0``, ``5-3``, ``-1:-3``) it
skips without a word. Both are refused here, naming the part. Whether a part selects anything may depend on
the playlist's length (``-5:2`` selects entries of a list of at most 6): a part is refused only if it
selects no entry of a playlist of any length, which `_selects_an_entry` decides exactly (checked against
yt-dlp itself for every small part in tests/test_download_selections.py).
"""

from __future__ import annotations

import math
import re

MAX_PLAYLIST_INDEX = 100_000
"""Largest index (either way) a selection may name. yt-dlp walks every index of a range one by one, even the
ones past the playlist's end when the range runs towards it from beyond (``-1000000000:``,
``1000000000::-1`` spin for minutes); this bound keeps a listing's walk under a second. The same bound as a
playlist's `limit`."""

_PART = re.compile(
    r"""(?x)
    (?P<start>[+-]?\d+)?
    (?P<range>[:-]
        (?P<end>[+-]?\d+|inf(?:inite)?)?
        (?::(?P<step>[+-]?\d+))?
    )?"""
)
"""yt-dlp's ``PlaylistEntries.PLAYLIST_ITEMS_RE``."""

_SPLIT_TOKEN = re.compile(r"\w\s+\w")
"""Blanks between two digits or letters: blanks around the separators are dropped, these would join two
numbers into one ('1 0' is no '10')."""
_SYNTAX = (
    "a part is an index ('3', '-1' the last), a range ('2-5', '2:5', '-3:', ':4') or a slice with a step "
    "('1:9:2', '::-1')"
)


def playlist_selection(value: str) -> str:
    """Validator: `value` without whitespace if yt-dlp accepts it and every part selects an entry of some
    playlist; a ValueError naming the part otherwise."""
    if match := _SPLIT_TOKEN.search(value):
        raise ValueError(f"{match[0]!r}: a number (or 'inf') may not hold blanks")
    value = "".join(value.split())
    if not value:
        raise ValueError(f"the selection is empty: {_SYNTAX}")
    for part in value.split(","):
        _check_part(part)
    return value


def _check_part(part: str) -> None:
    if not part:
        raise ValueError(
            f"the selection has an empty part (two commas in a row, or one at an end); {_SYNTAX}"
        )
    match = _PART.fullmatch(part)
    if match is None:
        raise ValueError(f"{part!r} is not a valid part: {_SYNTAX}")
    start = int(match["start"]) if match["start"] else None
    end = _end(match["end"]) if match["range"] else start
    step = int(match["step"]) if match["step"] else 1
    if step == 0:
        raise ValueError(f"{part!r} has a step of 0: a step moves at least one entry (1, 2, -1, ...)")
    for index in (start, end):
        if index is not None and not math.isinf(index) and abs(index) > MAX_PLAYLIST_INDEX:
            raise ValueError(
                f"{part!r} names an index beyond {MAX_PLAYLIST_INDEX:,} (either way); to go to the end, "
                "leave the end out ('5:') or write 'inf' ('5-inf')"
            )
    if not _selects_an_entry(start, end, step):
        raise ValueError(
            f"{part!r} selects no entry of any playlist: entries are numbered from 1 (the first; -1 is the "
            "last), and a range runs from its start to its end (both included), upwards unless its step is "
            "negative (e.g. '5:1:-1')"
        )


def _end(text: str | None) -> float | None:
    """The end as yt-dlp reads it (``float_or_none``): ``inf`` is past every entry, while ``infinite``, which
    Python's float() does not read, is no end at all (the last entry, or the first with a negative step)."""
    if text is None or text == "infinite":
        return None
    return math.inf if text == "inf" else int(text)


def _selects_an_entry(start: int | None, end: float | None, step: int) -> bool:
    """Whether yt-dlp's slice ``start:end:step`` (1-based, both ends included, negatives counted from the
    end; a single index ``i`` is ``i:i``) selects an entry of a playlist of some length N >= 1.

    Upwards (step > 0) it starts at `start` (the first entry if left out; entries before the first are
    skipped), so an end at or past the start is enough, and one counted from the last (negative) is past
    any fixed start once N is large. A start counted from the last reaches a fixed end >= 1 for some N;
    two ends counted from the last need start <= end. ``0`` is before the first entry: from there the
    first entry reached is ``step`` itself. Downwards (step < 0) mirrors it: a start at ``0`` is before the
    first entry and selects nothing, ``inf`` as an end is past every start.
    """
    if step > 0:
        if end is None or math.isinf(end):
            return True
        if end < 0:
            return start is None or start >= 0 or start <= end
        if start is None or start < 0:
            return end >= 1
        return end >= (step if start == 0 else start)
    if start == 0 or (end is not None and math.isinf(end)):
        return False
    if end is None or start is None:
        return True
    if start > 0:
        return end < 0 or end <= start
    return end >= 0 or start >= end
