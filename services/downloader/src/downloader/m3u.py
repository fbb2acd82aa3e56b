"""Plain M3U lists in the downloader: the rule is `jobcommon.ytdlp.m3u_lists`, shared with the metadata
service's `video_info`.

A listing (`downloader.listing`) whose URL yt-dlp read as one HLS master, one direct file, or failed to read
as HLS, reads the document itself, and a plain M3U becomes a playlist of its URLs; each entry passes the same
URL checks as any listed entry and as any download request. A `video_download` of such a list is refused
(`downloader.preprocessors`): its "segments" would be the bytes of media files.
"""

from __future__ import annotations

from jobcommon.ytdlp.m3u_lists import (
    MAX_M3U_BYTES,
    SNIFF_BYTES,
    M3uEntry,
    M3uTooLargeError,
    extract_with_plain_m3u,
    is_plain_m3u_start,
    parse_plain_m3u,
    read_as_hls_master,
    read_plain_m3u,
    took_the_document_itself,
)

__all__ = [
    "MAX_M3U_BYTES",
    "SNIFF_BYTES",
    "M3uEntry",
    "M3uTooLargeError",
    "extract_with_plain_m3u",
    "is_plain_m3u_start",
    "parse_plain_m3u",
    "read_as_hls_master",
    "read_plain_m3u",
    "took_the_document_itself",
]
