"""One yt-dlp download in a child process: ``python -m downloader.ytdlp_child``.

stdin: one `ChildSpec` JSON document. stdout: JSON lines (`ProgressEvent`s, then one `DoneEvent`
or `FailedEvent`). stderr: yt-dlp warnings/errors, for the parent's diagnostics. Exit code 0 after
``done``, 1 after ``failed`` (2 when the spec itself is invalid).

The parent cancels by SIGKILLing the whole process group, so nothing here cleans up on signals;
the ``.part`` files stay in ``temp_dir`` and the next attempt resumes from them.

The process is dedicated to one untrusted URL, which is what makes the process-wide SSRF audit
hook (`jobcommon.netguard`) acceptable: it is installed before anything touches the network.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from downloader.child_protocol import ChildEvent, ChildSpec, DoneEvent, FailedEvent, ProgressEvent, dump_event
from downloader.error_kinds import (
    FileTooLargeError,
    NothingDownloadedError,
    TruncatedDownloadError,
    classify,
    error_type,
    is_range_not_satisfiable,
    one_line,
)
from downloader.media_probe import probe, sha256_of
from jobcommon.netguard import check_url_scheme, install_connect_guard

if TYPE_CHECKING:
    from collections.abc import Callable

PROGRESS_INTERVAL = 0.2
"""Minimum seconds between two progress lines (the first and the ``finished`` one always go out)."""

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_BAD_SPEC = 2
EXIT_PARENT_GONE = 3

_PR_SET_PDEATHSIG = 1


class ExternalFetchRefusedError(Exception):
    """yt-dlp wanted to hand the network fetch to ffmpeg/rtmpdump, which the connect guard can't see."""


class _Protocol:
    """Owns the real stdout; fd 1 is pointed at stderr so nothing else can corrupt the protocol."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self._out: BinaryIO = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
        self._lock = threading.Lock()

    def emit(self, event: ChildEvent) -> None:
        line = dump_event(event)
        with self._lock:
            try:
                self._out.write(line)
                self._out.flush()
            except (BrokenPipeError, ValueError):
                os._exit(EXIT_PARENT_GONE)  # nobody is listening any more


class _QuietLogger:
    """yt-dlp logger: screen/debug output is dropped, warnings and errors go to stderr."""

    def __init__(self) -> None:
        self.too_large = False

    def debug(self, msg: str) -> None:
        if "max-filesize" in msg:  # yt-dlp's own max_filesize check only logs and skips
            self.too_large = True

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def error(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def _as_float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class _ProgressTracker:
    """The progress hook: rate-limited `ProgressEvent`s, size limit, truncation check."""

    def __init__(
        self,
        emit: Callable[[ChildEvent], None],
        max_filesize: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._clock = clock
        self._max_filesize = max_filesize
        self._last_emit: float | None = None
        self.expected_sizes: dict[str, int] = {}
        self.truncated: str | None = None

    def reset(self) -> None:
        self.expected_sizes.clear()
        self.truncated = None

    def __call__(self, d: dict[str, Any]) -> None:
        status = d.get("status")
        if status not in ("downloading", "finished"):
            return
        downloaded = _as_int(d.get("downloaded_bytes"))
        total = _as_int(d.get("total_bytes"))
        filename = _as_str(d.get("filename"))
        if status == "downloading" and total is not None and filename is not None:
            self.expected_sizes[filename] = total
        limit = self._max_filesize
        if limit is not None and max(downloaded or 0, total or 0) > limit:
            raise FileTooLargeError(f"the media is larger than the limit of {limit} bytes")
        if status == "finished" and filename is not None:
            self._check_complete(filename)

        now = self._clock()
        throttled = self._last_emit is not None and now - self._last_emit < PROGRESS_INTERVAL
        if status == "downloading" and throttled:
            return
        self._last_emit = now
        self._emit(
            ProgressEvent(
                downloaded_bytes=downloaded,
                total_bytes=total if total is not None else _as_int(d.get("total_bytes_estimate")),
                speed=_as_float(d.get("speed")),
                eta=_as_float(d.get("eta")),
                fragment_index=_as_int(d.get("fragment_index")),
                fragment_count=_as_int(d.get("fragment_count")),
            )
        )

    def _check_complete(self, filename: str) -> None:
        expected = self.expected_sizes.get(filename)
        if expected is None:
            return
        try:
            actual = os.path.getsize(filename)
        except OSError:
            return  # already moved; the final check looks at the result
        if actual != expected:
            self.truncated = f"downloaded {actual} bytes, but the server announced {expected} bytes"


def _ffmpeg_location(spec: ChildSpec) -> str | None:
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


def _forbid_external_fetchers() -> None:
    """Make yt-dlp fail instead of letting ffmpeg/rtmpdump fetch URLs (live HLS, exotic playlists).

    Those programs open their own sockets, invisible to the ``socket.connect`` audit hook.
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


def build_params(spec: ChildSpec, hook: Callable[[dict[str, Any]], None], logger: Any) -> dict[str, Any]:
    """yt-dlp parameters (facts file §9)."""
    params: dict[str, Any] = {
        "logger": logger,
        "quiet": True,
        "noprogress": True,
        "paths": {"home": spec.output_dir, "temp": spec.temp_dir},
        "outtmpl": "media.%(ext)s",
        "restrictfilenames": True,
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
        "hls_prefer_native": True,
        "updatetime": False,  # keep mtime = download time (not the server's Last-Modified)
        "cachedir": False,
        # 'enable_file_urls' stays False (default)
    }
    if spec.format:
        params["format"] = spec.format
    if spec.max_filesize is not None:
        params["max_filesize"] = spec.max_filesize
    ffmpeg = _ffmpeg_location(spec)
    if ffmpeg:
        params["ffmpeg_location"] = ffmpeg
    return params


def _wipe_dir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def _run_ytdlp(spec: ChildSpec, tracker: _ProgressTracker, logger: _QuietLogger, *, continuedl: bool) -> Any:
    import yt_dlp

    params = build_params(spec, tracker, logger)
    params["continuedl"] = continuedl
    with yt_dlp.YoutubeDL(params) as ydl:
        return ydl.extract_info(spec.url, download=True)


def _finish(spec: ChildSpec, info: Any, tracker: _ProgressTracker, logger: _QuietLogger) -> DoneEvent:
    downloads = info.get("requested_downloads") if isinstance(info, dict) else None
    entry: dict[str, Any] = downloads[0] if isinstance(downloads, list) and downloads else {}
    filepath = _as_str(entry.get("filepath"))
    if filepath is None or not os.path.isfile(filepath):
        if logger.too_large:
            raise FileTooLargeError(f"the media is larger than the limit of {spec.max_filesize} bytes")
        raise NothingDownloadedError("yt-dlp finished without producing a file")
    if tracker.truncated is not None:
        raise TruncatedDownloadError(tracker.truncated)
    path = Path(filepath).absolute()
    size = path.stat().st_size
    if size == 0:
        raise TruncatedDownloadError("the downloaded file is empty")
    if spec.max_filesize is not None and size > spec.max_filesize:
        raise FileTooLargeError(f"the media is larger than the limit of {spec.max_filesize} bytes")
    sha256 = sha256_of(path)

    def pick(key: str) -> object:
        return entry.get(key) if entry.get(key) is not None else info.get(key)

    duration = _as_float(pick("duration"))
    width = _as_int(pick("width"))
    height = _as_int(pick("height"))
    if duration is None or width is None or height is None:
        probed = probe(path)
        duration = duration if duration is not None else probed.duration
        width = width if width is not None else probed.width
        height = height if height is not None else probed.height
    return DoneEvent(
        path=str(path),
        size=size,
        sha256=sha256,
        title=_as_str(info.get("title")),
        ext=path.suffix.lstrip(".") or _as_str(entry.get("ext")) or "unknown_video",
        duration=duration,
        width=width,
        height=height,
        extractor=_as_str(info.get("extractor")),
        webpage_url=_as_str(info.get("webpage_url")),
    )


def download(spec: ChildSpec, emit: Callable[[ChildEvent], None]) -> DoneEvent:
    """Run the download described by ``spec`` in this process. Raises on failure."""
    check_url_scheme(spec.url)
    if not spec.allow_private_networks:
        _forbid_external_fetchers()
    from yt_dlp.utils import YoutubeDLError

    os.makedirs(spec.output_dir, exist_ok=True)
    os.makedirs(spec.temp_dir, exist_ok=True)
    logger = _QuietLogger()
    tracker = _ProgressTracker(emit, spec.max_filesize)
    try:
        info = _run_ytdlp(spec, tracker, logger, continuedl=True)
    except YoutubeDLError as exc:
        if not is_range_not_satisfiable(exc):
            raise
        # A complete (or stale) .part makes every resume fail with 416 (yt-dlp#12994): start over once.
        print("HTTP 416 on resume: wiping temp_dir, downloading from scratch", file=sys.stderr, flush=True)
        _wipe_dir(spec.temp_dir)
        tracker.reset()
        info = _run_ytdlp(spec, tracker, logger, continuedl=False)
    return _finish(spec, info, tracker, logger)


def _die_with_parent() -> None:
    """Linux: get SIGKILLed when the parent dies, so a crashed service leaves no orphan downloads."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass


def main() -> int:
    _die_with_parent()
    proto = _Protocol()
    try:
        spec = ChildSpec.model_validate_json(sys.stdin.buffer.read())
    except Exception as exc:
        proto.emit(FailedEvent(kind="permanent", error_type="InvalidSpec", message=one_line(exc)))
        return EXIT_BAD_SPEC
    install_connect_guard(allow_private=spec.allow_private_networks)  # before any network access
    try:
        done = download(spec, proto.emit)
    except Exception as exc:
        proto.emit(FailedEvent(kind=classify(exc), error_type=error_type(exc), message=one_line(exc)))
        return EXIT_FAILED
    proto.emit(done)
    return EXIT_DONE


if __name__ == "__main__":
    sys.exit(main())
