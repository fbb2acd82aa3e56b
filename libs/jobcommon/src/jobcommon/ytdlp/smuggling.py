"""yt-dlp's smuggled URLs: data an extractor hands to the next one inside a URL's fragment
(``http://host/a.mp4#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22a1%22%7D``).

Users need the plain URL; yt-dlp may need the data to fetch the entry (a referer, a forced extractor). These
read and write them as ``yt_dlp.utils.smuggle_url`` / ``unsmuggle_url`` do, without importing yt-dlp.
"""

from __future__ import annotations

import json
from typing import Any, overload
from urllib.parse import parse_qs, urlencode

_MARKER = "#__youtubedl_smuggle"
_FIELD = "__youtubedl_smuggle"


def unsmuggle(url: str) -> tuple[str, dict[str, Any]]:
    """The plain URL and the data smuggled into it (empty when there is none, or none that reads)."""
    if _MARKER not in url:
        return url, {}
    plain, _, fragment = url.rpartition("#")
    try:
        data = json.loads(parse_qs(fragment)[_FIELD][0])
    except (KeyError, IndexError, ValueError):
        return plain, {}
    return plain, data if isinstance(data, dict) else {}


@overload
def unsmuggled(url: str) -> str: ...
@overload
def unsmuggled(url: None) -> None: ...
def unsmuggled(url: str | None) -> str | None:
    """The URL without smuggled data: the URL users see (None stays None)."""
    return None if url is None else unsmuggle(url)[0]


def smuggle(url: str, data: dict[str, Any]) -> str:
    """``url`` carrying ``data`` (merged with what it already carries, which wins, as yt-dlp merges)."""
    plain, already = unsmuggle(url)
    merged = {**data, **already}
    return plain + "#" + urlencode({_FIELD: json.dumps(merged)})
