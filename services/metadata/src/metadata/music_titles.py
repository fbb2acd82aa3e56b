"""What a music video's title and uploader say of its artist and song ("Artist - Song (Official Video)")."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NOISE = re.compile(
    r"\s*[\(\[][^\)\]]*\b(official|music|video|audio|lyrics?|visuali[sz]er|hd|hq|4k|remaster(ed)?|live|mv|clip)"
    r"\b[^\)\]]*[\)\]]",
    re.IGNORECASE,
)
_FEATURING = re.compile(r"\s*[\(\[]?\s*\b(feat\.?|ft\.?|featuring)\s+[^\)\]]*[\)\]]?\s*$", re.IGNORECASE)
_NUMBERED = re.compile(r"\s*\(\d{1,3}\)\s*$")
"""yt-dlp numbers the videos of a page that has several: "Title (1)"."""
_DASH = re.compile(r"\s+[-–—]\s+")
_UPLOADER_NOISE = re.compile(r"\s*(-\s*topic|vevo|official)\s*$", re.IGNORECASE)
_TRAILING = re.compile(r"\s*(\|.*|-\s*youtube)$", re.IGNORECASE)
"""Everything after " | " ("Song | Official Video"), and " - YouTube" pasted from a browser tab."""
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_QUOTES = "\"'“”‘’«»"


def _clean(text: str) -> str:
    text = _TRAILING.sub("", text)
    text = _NUMBERED.sub("", text)
    text = _NOISE.sub("", text)
    text = _FEATURING.sub("", text)
    return " ".join(text.split()).strip(_QUOTES + " ")


@dataclass(frozen=True, slots=True)
class Guess:
    artist: str | None
    song: str
    from_uploader: bool
    """The artist is the uploader's name, not part of the title (less sure)."""


def artist_and_song(title: str, uploader: str | None = None) -> Guess:
    """`Guess("Artist", "Song")` from "Artist - Song (Official Video)"; without a dash, the song is the
    cleaned title and the artist the uploader's name (without "VEVO", " - Topic"; "TaylorSwift" spaced)."""
    parts = _DASH.split(_TRAILING.sub("", title), maxsplit=1)
    if len(parts) == 2 and _clean(parts[0]) and _clean(parts[1]):
        return Guess(_clean(parts[0]), _clean(parts[1]), from_uploader=False)
    artist = _CAMEL.sub(" ", _UPLOADER_NOISE.sub("", uploader).strip()) if uploader else ""
    return Guess(artist or None, _clean(title) or title.strip(), from_uploader=bool(artist))
