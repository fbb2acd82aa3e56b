"""yt-dlp extraction (no download) in a child process: ``python -m metadata.info_child``.

stdin: one `ChildConfig` line, then `ExtractRequest` lines. stdout: one `ChildReady` line once yt-dlp is
imported, then one `ExtractDone`/`ExtractFailed` line per request. stderr: yt-dlp's warnings and errors, for
the parent's diagnostics. The process serves requests one
after the other until stdin closes; the parent SIGKILLs its process group to cancel one, so nothing here
handles signals.

The process only ever fetches untrusted URLs, which is what makes the process-wide SSRF audit hook
(`jobcommon.netguard`) acceptable: it is installed from the config before yt-dlp is even imported.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import ValidationError

from jobcommon.child_side import ProtocolOut, die_with_parent
from jobcommon.netguard import check_url_scheme, install_connect_guard
from jobcommon.ytdlp.failures import classify, one_line
from jobcommon.ytdlp.logger import QuietLogger
from jobcommon.ytdlp.m3u_lists import extract_with_plain_m3u
from metadata.info_protocol import (
    ChildConfig,
    ChildReady,
    ExtractDone,
    ExtractFailed,
    ExtractRequest,
    dump_line,
)
from metadata.source_info import summarize

EXIT_DONE = 0
EXIT_BAD_INPUT = 2


def build_params(config: ChildConfig) -> dict[str, Any]:
    """yt-dlp parameters for metadata only.

    Only the ``generic`` and ``html5`` extractors run: direct media files, pages with ``<video>``, feeds and
    manifests, and no site-specific extractor with its own API calls. ``file://`` URLs stay refused
    (``enable_file_urls`` is left off), so a URL cannot read local files. A playlist's entries are listed
    without resolving each one. Nothing is downloaded, no cache directory is written, and formats are not
    probed (``check_formats`` off): one request per page, bounded by ``socket_timeout``; two for a plain M3U
    list of media URLs, which yt-dlp takes for an HLS stream or a direct file: read again, it is the playlist
    of its URLs, as the downloader lists it (`jobcommon.ytdlp.m3u_lists`).
    """
    return {
        "logger": QuietLogger(),
        "quiet": True,
        "noprogress": True,
        "skip_download": True,
        "allowed_extractors": ["generic", "html5"],  # direct media, <video> pages, feeds, manifests
        "noplaylist": True,
        "extract_flat": "in_playlist",  # list a playlist's entries without resolving each one
        "socket_timeout": config.socket_timeout,
        "cachedir": False,
        "check_formats": False,
        # 'enable_file_urls' stays False (default)
    }


def extract(config: ChildConfig, request: ExtractRequest) -> ExtractDone | ExtractFailed:
    """One extraction; never raises (except for BaseExceptions such as KeyboardInterrupt)."""
    try:
        check_url_scheme(request.url)
        import yt_dlp

        with yt_dlp.YoutubeDL(build_params(config)) as ydl:  # one per URL: no cookies carried over
            info = extract_with_plain_m3u(ydl, request.url)  # a plain M3U: the playlist of its URLs
        if not isinstance(info, dict):
            raise ValueError("yt-dlp returned no information")
        return ExtractDone(id=request.id, info=summarize(info, playlist_preview=config.playlist_preview))
    except Exception as exc:
        kind, error_type = classify(exc)
        return ExtractFailed(id=request.id, kind=kind, error_type=error_type, message=one_line(exc))


def main() -> int:
    die_with_parent()
    out = ProtocolOut()
    stdin = sys.stdin.buffer
    try:
        config = ChildConfig.model_validate_json(stdin.readline())
    except ValidationError as exc:
        print(f"invalid config: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    # before any network access
    install_connect_guard(
        allow_private=config.allow_private_networks, allowed_networks=config.allowed_networks
    )
    import yt_dlp

    yt_dlp.YoutubeDL(build_params(config)).close()  # loads the extractors: the slow part of the first URL
    out.write(dump_line(ChildReady()))
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = ExtractRequest.model_validate_json(line)
        except ValidationError as exc:
            print(f"invalid request: {exc}", file=sys.stderr, flush=True)
            return EXIT_BAD_INPUT
        out.write(dump_line(extract(config, request)))
    return EXIT_DONE


if __name__ == "__main__":
    sys.exit(main())
