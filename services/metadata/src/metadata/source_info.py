"""What a URL's source says about its video: a compact summary of yt-dlp's info dict.

yt-dlp's dict can be large (every format, every thumbnail, HTTP headers); `summarize` keeps the fields a media
library wants, with bounded lists, so a cache entry and a job result stay small. Pure functions, no yt-dlp
import: the child process summarizes, the service only validates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jobcommon.ytdlp.smuggling import unsmuggled
from jobcommon.ytdlp.values import as_float, as_int

MAX_FORMATS = 20
MAX_THUMBNAILS = 10
MAX_TAGS = 50
MAX_TEXT = 2000
MAX_SHORT_TEXT = 500


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Thumbnail(_Model):
    url: str
    width: int | None = None
    height: int | None = None


class FormatSummary(_Model):
    format_id: str | None = None
    ext: str | None = None
    protocol: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    vcodec: str | None = None
    acodec: str | None = None
    tbr: float | None = Field(default=None, description="Total bitrate, kbit/s.")
    filesize: int | None = Field(default=None, description="Bytes (exact or approximate) if the source says.")


class PlaylistEntry(_Model):
    title: str | None = None
    url: str | None = None
    duration: float | None = None


class SourceInfo(_Model):
    """What the source says; fields it does not say are None (e.g. a direct file has no duration)."""

    kind: Literal["video", "playlist"] = "video"
    id: str | None = None
    title: str | None = None
    description: str | None = None
    uploader: str | None = None
    channel: str | None = None
    duration: float | None = Field(default=None, description="Seconds.")
    upload_date: date | None = None
    timestamp: datetime | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    ext: str | None = None
    extractor: str | None = None
    webpage_url: str | None = None
    thumbnail: str | None = None
    thumbnails: list[Thumbnail] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    formats_count: int = 0
    formats: list[FormatSummary] = Field(default_factory=list, description="Best first, at most 20.")
    entries_count: int | None = Field(default=None, description="Playlists: how many entries.")
    entries: list[PlaylistEntry] = Field(
        default_factory=list, description="Playlists: the first entries, not resolved one by one."
    )


# -- yt-dlp's loosely typed values (numbers: `jobcommon.ytdlp.values`) -------------------------------


def _text(value: object, limit: int = MAX_SHORT_TEXT) -> str | None:
    """Text to show: numbers as text, stripped, at most `limit` characters; None when there is none."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _upload_date(value: object) -> date | None:
    if isinstance(value, str) and len(value) == 8 and value.isdigit():
        try:
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            return None
    return None


def _timestamp(value: object) -> datetime | None:
    seconds = as_float(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _codec(value: object) -> str | None:
    text = _text(value, 100)
    return None if text in (None, "none") else text


def _format(raw: dict[str, Any]) -> FormatSummary:
    return FormatSummary(
        format_id=_text(raw.get("format_id"), 100),
        ext=_text(raw.get("ext"), 20),
        protocol=_text(raw.get("protocol"), 40),
        width=as_int(raw.get("width")),
        height=as_int(raw.get("height")),
        fps=as_float(raw.get("fps")),
        vcodec=_codec(raw.get("vcodec")),
        acodec=_codec(raw.get("acodec")),
        tbr=as_float(raw.get("tbr")),
        filesize=as_int(raw.get("filesize")) or as_int(raw.get("filesize_approx")),
    )


def _thumbnails(info: dict[str, Any]) -> list[Thumbnail]:
    raw = info.get("thumbnails")
    found: list[Thumbnail] = []
    seen: set[str] = set()
    if isinstance(raw, list):
        for item in reversed(raw):  # yt-dlp sorts them worst first
            if isinstance(item, dict) and (url := _text(item.get("url"), 4096)) and url not in seen:
                seen.add(url)
                found.append(
                    Thumbnail(url=url, width=as_int(item.get("width")), height=as_int(item.get("height")))
                )
    single = _text(info.get("thumbnail"), 4096)
    if single and single not in seen:
        found.insert(0, Thumbnail(url=single))
    return found[:MAX_THUMBNAILS]


def _tags(info: dict[str, Any]) -> list[str]:
    raw = info.get("tags")
    if not isinstance(raw, list):
        return []
    tags = [tag for tag in (_text(t, 100) for t in raw) if tag]
    return list(dict.fromkeys(tags))[:MAX_TAGS]


def _entries(info: dict[str, Any], preview: int) -> tuple[int | None, list[PlaylistEntry]]:
    raw = info.get("entries")
    entries = raw if isinstance(raw, list) else []
    count = as_int(info.get("playlist_count"))
    if count is None:
        count = len(entries)
    listed = [
        PlaylistEntry(
            title=_text(entry.get("title")),
            url=unsmuggled(_text(entry.get("url") or entry.get("webpage_url"), 4096)),
            duration=as_float(entry.get("duration")),
        )
        for entry in entries[:preview]
        if isinstance(entry, dict)
    ]
    return count, listed


def summarize(info: dict[str, Any], *, playlist_preview: int = 10) -> SourceInfo:
    """The summary of one ``extract_info(url, download=False)`` result."""
    is_playlist = info.get("_type") in ("playlist", "multi_video")
    raw_formats = info.get("formats")
    formats = [f for f in raw_formats if isinstance(f, dict)] if isinstance(raw_formats, list) else []
    formats.reverse()  # yt-dlp sorts worst first
    width, height = as_int(info.get("width")), as_int(info.get("height"))
    fps = as_float(info.get("fps"))
    if (width is None or height is None) and formats:
        best = next((f for f in formats if as_int(f.get("width")) and as_int(f.get("height"))), None)
        if best is not None:
            width, height = as_int(best.get("width")), as_int(best.get("height"))
            fps = fps if fps is not None else as_float(best.get("fps"))
    entries_count, entries = _entries(info, playlist_preview) if is_playlist else (None, [])
    return SourceInfo(
        kind="playlist" if is_playlist else "video",
        id=_text(info.get("id")),
        title=_text(info.get("title")),
        description=_text(info.get("description"), MAX_TEXT),
        uploader=_text(info.get("uploader")),
        channel=_text(info.get("channel")),
        duration=as_float(info.get("duration")),
        upload_date=_upload_date(info.get("upload_date")),
        timestamp=_timestamp(info.get("timestamp")),
        width=width,
        height=height,
        fps=fps,
        ext=None if is_playlist else _text(info.get("ext"), 20),
        extractor=_text(info.get("extractor"), 100),
        webpage_url=_text(info.get("webpage_url"), 4096),
        thumbnail=_text(info.get("thumbnail"), 4096),
        thumbnails=_thumbnails(info),
        tags=_tags(info),
        formats_count=len(formats),
        formats=[_format(f) for f in formats[:MAX_FORMATS]],
        entries_count=entries_count,
        entries=entries,
    )
