"""From a job's request and the service settings to the child's `ChildSpec` (download or playlist listing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from downloader.child_protocol import ChildSpec

if TYPE_CHECKING:
    from pathlib import Path

    from downloader.settings import DownloaderSettings
    from jobcommon import DownloadOptions


def format_selector(options: DownloadOptions) -> str | None:
    """The yt-dlp format string for the options (None: yt-dlp's default, best video + best audio)."""
    if options.format:
        return options.format
    if options.audio_only:
        return "bestaudio/best"
    if options.max_height is not None:
        h = options.max_height
        # '?' keeps formats of unknown height (direct links); the last alternative takes a single file
        return f"bv*[height<=?{h}]+ba/b[height<=?{h}]/bv*[height<=?{h}]"
    return None


def _common(settings: DownloaderSettings) -> dict[str, object]:
    return {
        "socket_timeout": settings.download_socket_timeout_s,
        "retries": settings.download_retries,
        "allow_private_networks": settings.download_allow_private_networks,
        "allowed_networks": list(settings.download_allowed_networks),
        "ffmpeg_location": settings.ffmpeg_location,
    }


def download_spec(
    url: str,
    options: DownloadOptions,
    output_dir: Path,
    temp_dir: Path,
    settings: DownloaderSettings,
    *,
    share_limit: int | None = None,
) -> ChildSpec:
    return ChildSpec(
        url=url,
        output_dir=str(output_dir),
        temp_dir=str(temp_dir),
        format=format_selector(options),
        audio_only=options.audio_only,
        container=options.container,
        subtitle_languages=list(options.subtitles) if options.subtitles else None,
        write_thumbnail=options.write_thumbnail,
        write_info_json=options.write_info_json,
        max_filesize=settings.download_max_filesize,
        max_duration=settings.download_max_duration_s,
        rate_limit=settings.download_rate_limit,
        share_limit=share_limit,
        min_free_bytes=settings.download_min_free_bytes,
        **_common(settings),
    )


def list_spec(
    url: str,
    temp_dir: Path,
    settings: DownloaderSettings,
    *,
    items: str | None = None,
    limit: int | None = None,
) -> ChildSpec:
    """A playlist listing (`child_runner.list_entries`); nothing is written, ``temp_dir`` is only its jail."""
    return ChildSpec(
        url=url,
        output_dir=str(temp_dir),
        temp_dir=str(temp_dir),
        action="list",
        playlist_items=items.replace(" ", "") if items else None,
        playlist_limit=limit,
        max_entries=settings.download_max_playlist_entries,
        **_common(settings),
    )
