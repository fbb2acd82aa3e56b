"""The ``YoutubeDL`` parameters of a download or listing, from the child's `ChildSpec`.

What they guarantee, whatever the URL:

* only the ``generic`` and ``html5`` extractors run (direct media files, pages with ``<video>``, feeds and
  manifests): no site-specific extractor with its own API calls and quirks;
* ``file://`` URLs stay refused (yt-dlp's ``enable_file_urls`` is left off), so a URL cannot read local files;
* every fetch is yt-dlp's own (``external_downloader: native``, native HLS), so the connect guard sees every
  connection; `downloader.external_fetchers` refuses the rest;
* ffmpeg reads the downloaded files with local protocols and media demuxers only, and never a local file
  when it fetches a URL itself (`downloader.ffmpeg_fences`);
* nothing is written outside the job's directories: a fixed output template (``media.%(ext)s``) with
  restricted, short file names, and no cache directory;
* a silent connection fails after ``socket_timeout``; fragments are never skipped (a gap would be a corrupt
  file, not a success).
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from downloader.ffmpeg_fences import external_downloader_args, postprocessor_args

if TYPE_CHECKING:
    from collections.abc import Callable

    from downloader.child_protocol import ChildSpec

FORMAT_SORT = {"mp4": ["ext:mp4:m4a"], "webm": ["ext:webm:webm"], "mkv": []}
"""Per container asked for: the formats preferred, so that remuxing is a copy, not a re-encode."""


def ffmpeg_location(spec: ChildSpec) -> str | None:
    """The spec's ffmpeg, else ffmpeg on PATH, else the one imageio-ffmpeg ships; None if there is none."""
    if spec.ffmpeg_location:
        return spec.ffmpeg_location
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:
        return None


def _base_params(spec: ChildSpec, hook: Callable[[dict[str, Any]], None], logger: Any) -> dict[str, Any]:
    return {
        "logger": logger,
        "quiet": True,
        "noprogress": True,
        "paths": {"home": spec.output_dir, "temp": spec.temp_dir},
        "outtmpl": "media.%(ext)s",
        "restrictfilenames": True,
        "windowsfilenames": True,
        "trim_file_name": 64,
        "allowed_extractors": ["generic", "html5"],
        "noplaylist": True,
        "socket_timeout": spec.socket_timeout,
        "retries": spec.retries,
        "fragment_retries": spec.retries,
        "skip_unavailable_fragments": False,
        "buffersize": 65536,
        "noresizebuffer": True,
        "progress_hooks": [hook],
        "external_downloader": {"default": "native"},
        "external_downloader_args": external_downloader_args(),
        "postprocessor_args": postprocessor_args(),
        "hls_prefer_native": True,
        "updatetime": False,  # keep mtime = download time (not the server's Last-Modified)
        "cachedir": False,
        # 'enable_file_urls' stays False (default)
    }


def _format_params(spec: ChildSpec) -> dict[str, Any]:
    """Format selection, conversions and the extra files asked for."""
    params: dict[str, Any] = {}
    postprocessors: list[dict[str, Any]] = []
    if spec.format:
        params["format"] = spec.format
    if spec.audio_only:
        params["format"] = spec.format or "bestaudio/best"
        postprocessors.append({"key": "FFmpegExtractAudio", "preferredcodec": "best"})
    if spec.container:
        params["merge_output_format"] = spec.container
        if FORMAT_SORT[spec.container]:
            params["format_sort"] = FORMAT_SORT[spec.container]
        postprocessors.append({"key": "FFmpegVideoRemuxer", "preferedformat": spec.container})
    if spec.subtitle_languages:
        params["writesubtitles"] = True
        params["subtitleslangs"] = list(spec.subtitle_languages)
    if spec.write_thumbnail:
        params["writethumbnail"] = True
    if spec.write_info_json:
        params["writeinfojson"] = True
    if postprocessors:
        params["postprocessors"] = postprocessors
    return params


def build_params(spec: ChildSpec, hook: Callable[[dict[str, Any]], None], logger: Any) -> dict[str, Any]:
    """yt-dlp parameters for `spec`: `hook` receives the progress, `logger` yt-dlp's messages."""
    params = _base_params(spec, hook, logger) | _format_params(spec)
    if spec.max_filesize is not None:
        params["max_filesize"] = spec.max_filesize
    if spec.rate_limit is not None:
        params["ratelimit"] = spec.rate_limit
    ffmpeg = ffmpeg_location(spec)
    if ffmpeg:
        params["ffmpeg_location"] = ffmpeg
    return params
