"""A playlist's entries in the child, without resolving each one (yt-dlp's ``extract_flat='in_playlist'``).

Only http(s) entries are listed (the others are counted as skipped), at most the job's cap; a URL that is a
single video lists itself. A plain M3U list of media URLs (which yt-dlp would take for HLS or for one media
file) lists its URLs (`downloader.m3u`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from downloader.child_protocol import EntriesEvent, Entry
from downloader.external_fetchers import forbid_external_fetchers
from downloader.failures import NothingDownloadedError
from downloader.progress_hook import ProgressTracker
from downloader.ytdlp_params import build_params
from jobcommon.netguard import UnsupportedUrlError, check_url_scheme
from jobcommon.ytdlp.logger import QuietLogger
from jobcommon.ytdlp.m3u_lists import extract_with_plain_m3u
from jobcommon.ytdlp.values import as_float, as_str

if TYPE_CHECKING:
    from collections.abc import Callable

    from downloader.child_protocol import ChildEvent, ChildSpec

MAX_ENTRY_URL = 4096


def _entry(item: Any) -> Entry | None:
    if not isinstance(item, dict):
        return None
    url = as_str(item.get("url")) or as_str(item.get("webpage_url"))
    if url is None or len(url) > MAX_ENTRY_URL:
        return None
    try:
        check_url_scheme(url)
    except UnsupportedUrlError:
        return None
    return Entry(url=url, title=as_str(item.get("title")), duration=as_float(item.get("duration")))


def _extract_flat(spec: ChildSpec, emit: Callable[[ChildEvent], None], cap: int) -> Any:
    import yt_dlp

    tracker = ProgressTracker(emit, None)
    tracker.set_stage("extracting")
    params = build_params(
        spec.model_copy(update={"audio_only": False, "container": None}), tracker, QuietLogger()
    )
    params.update({"noplaylist": False, "extract_flat": "in_playlist", "skip_download": True})
    if spec.playlist_items:
        params["playlist_items"] = spec.playlist_items
    else:
        params["playlistend"] = cap + 1  # one more than wanted tells whether there are more
    with yt_dlp.YoutubeDL(params) as ydl:
        return extract_with_plain_m3u(ydl, spec.url)  # a plain M3U list: the playlist of its URLs


def list_playlist(spec: ChildSpec, emit: Callable[[ChildEvent], None]) -> EntriesEvent:
    """The entries of the playlist at ``spec.url``. Raises on failure."""
    check_url_scheme(spec.url)
    if not spec.allow_private_networks:
        forbid_external_fetchers()
    cap = min(spec.playlist_limit or spec.max_entries, spec.max_entries)
    info = _extract_flat(spec, emit, cap)
    if not isinstance(info, dict):
        raise NothingDownloadedError("yt-dlp returned nothing for this URL")
    if info.get("_type") not in ("playlist", "multi_video"):
        single = Entry(url=spec.url, title=as_str(info.get("title")), duration=as_float(info.get("duration")))
        return EntriesEvent(title=single.title, entries=[single], playlist=False)
    raw = list(info.get("entries") or [])
    found = [_entry(item) for item in raw[:cap]]
    entries = [entry for entry in found if entry is not None]
    return EntriesEvent(
        title=as_str(info.get("title")),
        entries=entries,
        truncated=len(raw) > cap,
        skipped=len(found) - len(entries),
    )
