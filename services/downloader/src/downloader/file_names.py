"""Output file names in the child: every part the remote side supplies made harmless.

yt-dlp names subtitles ``media.<lang>.<ext>`` with ``lang`` straight from the page (``<track srclang>``)
and thumbnails ``media.<ext>``; the write jail (`downloader.fsjail`) is the backstop, this is the first line.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from downloader.resume import IMAGE_EXTS, SUBTITLE_EXTS

_SAFE_LANG_RE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_language(lang: object, taken: set[str]) -> str:
    """A subtitle language as a file name part: ``[A-Za-z0-9_-]``, at most 32 characters, unique."""
    text = _SAFE_LANG_RE.sub("_", str(lang or "")).strip("_-")[:32] or "und"
    candidate, n = text, 2
    while candidate in taken:
        candidate = f"{text[:28]}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


def _sanitize_subtitles(subtitles: dict[str, Any]) -> dict[str, Any] | None:
    taken: set[str] = set()
    clean: dict[str, Any] = {}
    for lang, sub in subtitles.items():
        ext = str(sub.get("ext") or "").lower() if isinstance(sub, dict) else ""
        if not isinstance(sub, dict) or ext not in SUBTITLE_EXTS:
            print(f"skipping subtitle {lang!r}: unsupported format {ext!r}", file=sys.stderr, flush=True)
            continue
        sub["ext"] = ext
        clean[safe_language(lang, taken)] = sub
    return clean or None


def _sanitize_thumbnails(thumbnails: list[Any]) -> None:
    for index, thumb in enumerate(thumbnails):
        if not isinstance(thumb, dict):
            continue
        thumb_ext = thumb.get("ext")
        if thumb_ext is not None and not (isinstance(thumb_ext, str) and thumb_ext.lower() in IMAGE_EXTS):
            thumb.pop("ext")
        thumb["id"] = str(index)


def sanitize_names(info: dict[str, Any]) -> None:
    """Make every remote-supplied part of an output file name harmless (in place): languages become
    `safe_language`, subtitles of unknown formats are dropped, odd thumbnail extensions fall back to the
    URL's extension."""
    subtitles = info.get("requested_subtitles")
    if isinstance(subtitles, dict):
        info["requested_subtitles"] = _sanitize_subtitles(subtitles)
    thumbnails = info.get("thumbnails")
    if isinstance(thumbnails, list):
        _sanitize_thumbnails(thumbnails)
