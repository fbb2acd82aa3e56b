"""No network fetch by external programs: ffmpeg and rtmpdump open their own sockets, which the connect
guard (a ``socket.connect`` audit hook in this process) cannot see."""

from __future__ import annotations

from typing import Any

from downloader.failures import ExternalFetchRefusedError


def forbid_external_fetchers() -> None:
    """Make yt-dlp fail instead of letting ffmpeg/rtmpdump fetch URLs (live HLS, exotic playlists).

    Merging/fixups (ffmpeg on local files) are unaffected.
    """
    from yt_dlp.downloader.external import FFmpegFD
    from yt_dlp.downloader.rtmp import RtmpFD

    def refuse(self: object, filename: str, info_dict: dict[str, Any]) -> bool:
        raise ExternalFetchRefusedError(
            "this media needs an external downloader (ffmpeg/rtmpdump), which is disabled for untrusted URLs"
        )

    FFmpegFD.real_download = refuse
    RtmpFD.real_download = refuse
