"""One yt-dlp download (or playlist listing) in a child process: ``python -m downloader.ytdlp_child``.

stdin: one `ChildSpec` JSON line, then optionally `ControlMessage` lines (bandwidth share). stdout: JSON
lines (`ProgressEvent`s, then one `DoneEvent`, `EntriesEvent` or `FailedEvent`). stderr: yt-dlp warnings and
errors, for the parent's diagnostics. Exit code 0 after ``done``/``entries``, 1 after ``failed`` (2 when the
spec itself is invalid).

The parent cancels by SIGKILLing the whole process group, so nothing here cleans up on signals; the
``.part`` files stay in ``temp_dir`` and the next attempt resumes from them if the remote file is unchanged
(`downloader.resume`).

The process is dedicated to one untrusted URL, which is what makes the process-wide audit hooks acceptable:
the SSRF connect guard (`jobcommon.netguard`) and the write jail (`downloader.fsjail`: nothing outside the
job's directories can be written) are installed before anything touches the network. ``RLIMIT_FSIZE``
backs up the size limit for every file this process or its ffmpeg writes.
"""

from __future__ import annotations

import math
import os
import re
import resource
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from downloader.child_protocol import (
    ChildEvent,
    ChildSpec,
    ControlMessage,
    DoneEvent,
    EntriesEvent,
    Entry,
    ExtraFile,
    ExtraKind,
    FailedEvent,
    ProgressEvent,
    Stage,
    dump_event,
)
from downloader.disk import free_space
from downloader.error_kinds import (
    DurationTooLongError,
    FileTooLargeError,
    InsufficientSpaceError,
    NothingDownloadedError,
    TruncatedDownloadError,
    classify,
    error_type,
    is_range_not_satisfiable,
    one_line,
)
from downloader.fsjail import install_write_jail
from downloader.media_probe import probe, sha256_of
from downloader.resume import IMAGE_EXTS, SUBTITLE_EXTS, ResumeGuard, wipe
from jobcommon.child_process import die_with_parent
from jobcommon.netguard import UnsupportedUrlError, check_url_scheme, install_connect_guard

if TYPE_CHECKING:
    from collections.abc import Callable

PROGRESS_INTERVAL = 0.2
"""Minimum seconds between two progress lines (the first and the ``finished`` one always go out)."""
THROTTLE_BURST_S = 0.25
"""The bandwidth share may be exceeded by this many seconds' worth of bytes at once."""
FSIZE_SLACK = 1024 * 1024
"""RLIMIT_FSIZE = max_filesize + this: the progress hook's check (every 64 KiB) fires first."""
MAX_ENTRY_URL = 4096

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_BAD_SPEC = 2
EXIT_PARENT_GONE = 3

_SAFE_LANG_RE = re.compile(r"[^A-Za-z0-9_-]+")
_SUBTITLE_EXTS = SUBTITLE_EXTS
_IMAGE_EXTS = IMAGE_EXTS
_FORMAT_SORT = {"mp4": ["ext:mp4:m4a"], "webm": ["ext:webm:webm"], "mkv": []}


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


class Throttle:
    """Token bucket for the bytes yt-dlp reports: sleeps in the progress hook (the download thread).

    The rate can change at any time (another download started or ended); only bytes received from then
    on are paced at the new rate, so neither a long pause nor a catch-up burst follows a change.
    """

    def __init__(
        self,
        rate: int | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        burst_s: float = THROTTLE_BURST_S,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._burst_s = burst_s
        self._due: float | None = None
        self._lock = threading.Lock()

    @property
    def rate(self) -> int | None:
        return self._rate

    def set_rate(self, rate: int | None) -> None:
        with self._lock:
            self._rate = rate

    def consume(self, nbytes: int) -> None:
        with self._lock:
            rate = self._rate
            if not rate or nbytes <= 0:
                self._due = None
                return
            now = self._clock()
            if self._due is None or self._due < now - self._burst_s:
                self._due = now - self._burst_s
            self._due += nbytes / rate
            wait = self._due - now
        if wait > 0:
            self._sleep(wait)


class _ProgressTracker:
    """The progress hook: rate-limited `ProgressEvent`s, size and disk limits, bandwidth, truncation check."""

    def __init__(
        self,
        emit: Callable[[ChildEvent], None],
        max_filesize: int | None,
        clock: Callable[[], float] = time.monotonic,
        *,
        throttle: Throttle | None = None,
        disk_path: str | None = None,
        min_free_bytes: int = 0,
    ) -> None:
        self._emit = emit
        self._clock = clock
        self._max_filesize = max_filesize
        self._throttle = throttle
        self._disk_path = disk_path
        self._min_free_bytes = min_free_bytes
        self._last_emit: float | None = None
        self._last_bytes: dict[str, int] = {}
        self._space_checked: set[str] = set()
        self.stage: Stage | None = None
        self.expected_sizes: dict[str, int] = {}
        self.truncated: str | None = None

    def reset(self) -> None:
        self.expected_sizes.clear()
        self._last_bytes.clear()
        self._space_checked.clear()
        self.truncated = None

    def set_stage(self, stage: Stage) -> None:
        if stage != self.stage:
            self.stage = stage
            self._emit(ProgressEvent(stage=stage))

    def postprocessor_hook(self, d: dict[str, Any]) -> None:
        if d.get("status") == "started" and d.get("postprocessor") not in _OWN_PREPROCESSORS:
            self.set_stage("postprocessing")

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
        if status == "downloading":
            self.stage = "downloading"
            self._check_space(filename, downloaded, total)
            self._pace(filename, downloaded)
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

    def _pace(self, filename: str | None, downloaded: int | None) -> None:
        if self._throttle is None or downloaded is None:
            return
        key = filename or ""
        last = self._last_bytes.get(key)
        self._last_bytes[key] = downloaded
        if last is not None and downloaded > last:
            self._throttle.consume(downloaded - last)

    def _check_space(self, filename: str | None, downloaded: int | None, total: int | None) -> None:
        if (
            self._disk_path is None
            or not self._min_free_bytes
            or total is None
            or filename in self._space_checked
        ):
            return
        self._space_checked.add(filename or "")
        remaining = max(0, total - (downloaded or 0))
        free = free_space(self._disk_path)
        if free - remaining < self._min_free_bytes:
            raise InsufficientSpaceError(
                f"not enough disk space: {remaining} more bytes needed, {free} free, "
                f"{self._min_free_bytes} must stay free"
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


def safe_language(lang: object, taken: set[str]) -> str:
    """A subtitle language as a file name part: ``[A-Za-z0-9_-]``, at most 32 characters, unique."""
    text = _SAFE_LANG_RE.sub("_", str(lang or "")).strip("_-")[:32] or "und"
    candidate, n = text, 2
    while candidate in taken:
        candidate = f"{text[:28]}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


def sanitize_names(info: dict[str, Any]) -> None:
    """Make every remote-supplied part of an output file name harmless (in place).

    yt-dlp names subtitles ``media.<lang>.<ext>`` with ``lang`` straight from the page (``<track srclang>``)
    and thumbnails ``media.<ext>``; languages become `safe_language`, unknown or odd extensions drop the
    subtitle / fall back to the URL's extension.
    """
    subtitles = info.get("requested_subtitles")
    if isinstance(subtitles, dict):
        taken: set[str] = set()
        clean: dict[str, Any] = {}
        for lang, sub in subtitles.items():
            ext = str(sub.get("ext") or "").lower() if isinstance(sub, dict) else ""
            if not isinstance(sub, dict) or ext not in _SUBTITLE_EXTS:
                print(f"skipping subtitle {lang!r}: unsupported format {ext!r}", file=sys.stderr, flush=True)
                continue
            sub["ext"] = ext
            clean[safe_language(lang, taken)] = sub
        info["requested_subtitles"] = clean or None
    thumbnails = info.get("thumbnails")
    if isinstance(thumbnails, list):
        for index, thumb in enumerate(thumbnails):
            if not isinstance(thumb, dict):
                continue
            thumb_ext = thumb.get("ext")
            if thumb_ext is not None and not (
                isinstance(thumb_ext, str) and thumb_ext.lower() in _IMAGE_EXTS
            ):
                thumb.pop("ext")
            thumb["id"] = str(index)


def _make_preprocessors(spec: ChildSpec, guard: ResumeGuard) -> list[tuple[Any, str]]:
    from yt_dlp.postprocessor.common import PostProcessor

    class MediaJobsGuardPP(PostProcessor):  # type: ignore[misc]
        """'video' stage: duration limit (before any byte is downloaded) and safe file names."""

        def run(self, info: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
            duration = _as_float(info.get("duration"))
            if spec.max_duration is not None and duration is not None and duration > spec.max_duration:
                raise DurationTooLongError(
                    f"the media is {duration:g} s long; the limit is {spec.max_duration:g} s"
                )
            sanitize_names(info)
            return [], info

    class MediaJobsResumePP(PostProcessor):  # type: ignore[misc]
        """'before_dl' stage: keep the partial files only if the remote file is unchanged."""

        def run(self, info: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
            guard.check(self._downloader, info)
            return [], info

    return [(MediaJobsGuardPP(), "video"), (MediaJobsResumePP(), "before_dl")]


_OWN_PREPROCESSORS = frozenset({"MediaJobsGuard", "MediaJobsResume"})


def build_params(spec: ChildSpec, hook: Callable[[dict[str, Any]], None], logger: Any) -> dict[str, Any]:
    """yt-dlp parameters (facts file §9)."""
    params: dict[str, Any] = {
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
        "hls_prefer_native": True,
        "updatetime": False,  # keep mtime = download time (not the server's Last-Modified)
        "cachedir": False,
        # 'enable_file_urls' stays False (default)
    }
    postprocessors: list[dict[str, Any]] = []
    if spec.format:
        params["format"] = spec.format
    if spec.audio_only:
        params["format"] = spec.format or "bestaudio/best"
        postprocessors.append({"key": "FFmpegExtractAudio", "preferredcodec": "best"})
    if spec.container:
        params["merge_output_format"] = spec.container
        if _FORMAT_SORT[spec.container]:
            params["format_sort"] = _FORMAT_SORT[spec.container]
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
    if spec.max_filesize is not None:
        params["max_filesize"] = spec.max_filesize
    if spec.rate_limit is not None:
        params["ratelimit"] = spec.rate_limit
    ffmpeg = _ffmpeg_location(spec)
    if ffmpeg:
        params["ffmpeg_location"] = ffmpeg
    return params


def _run_ytdlp(
    spec: ChildSpec, tracker: _ProgressTracker, logger: _QuietLogger, guard: ResumeGuard, *, continuedl: bool
) -> Any:
    import yt_dlp

    params = build_params(spec, tracker, logger)
    params["continuedl"] = continuedl
    params["postprocessor_hooks"] = [tracker.postprocessor_hook]
    with yt_dlp.YoutubeDL(params) as ydl:
        for pp, when in _make_preprocessors(spec, guard):
            ydl.add_post_processor(pp, when=when)
        return ydl.extract_info(spec.url, download=True)


def _inside(path: Path, directory: str) -> bool:
    return path.resolve().is_relative_to(Path(directory).resolve())


def _classify_extra(path: Path) -> tuple[ExtraKind, str | None] | None:
    name = path.name
    if not name.startswith("media."):
        return None
    if name.endswith(".info.json"):
        return "info_json", None
    ext = path.suffix.lstrip(".").lower()
    if ext in _SUBTITLE_EXTS:
        middle = name[len("media.") : -(len(ext) + 1)]
        return "subtitle", middle or None
    if ext in _IMAGE_EXTS:
        return "thumbnail", None
    return None


def _extra_files(spec: ChildSpec, media: Path) -> list[ExtraFile]:
    extras: list[ExtraFile] = []
    for path in sorted(Path(spec.output_dir).iterdir()):
        if path == media or path.is_symlink() or not path.is_file() or not _inside(path, spec.output_dir):
            continue
        kind = _classify_extra(path)
        if kind is None:
            continue
        extras.append(
            ExtraFile(path=str(path.absolute()), kind=kind[0], size=path.stat().st_size, language=kind[1])
        )
    return extras


def _finish(
    spec: ChildSpec, info: Any, tracker: _ProgressTracker, logger: _QuietLogger, guard: ResumeGuard
) -> DoneEvent:
    downloads = info.get("requested_downloads") if isinstance(info, dict) else None
    entry: dict[str, Any] = downloads[0] if isinstance(downloads, list) and downloads else {}
    filepath = _as_str(entry.get("filepath")) or _as_str(
        info.get("filepath") if isinstance(info, dict) else None
    )
    if filepath is None or not os.path.isfile(filepath):
        if logger.too_large:
            raise FileTooLargeError(f"the media is larger than the limit of {spec.max_filesize} bytes")
        raise NothingDownloadedError("yt-dlp finished without producing a file")
    if tracker.truncated is not None:
        raise TruncatedDownloadError(tracker.truncated)
    path = Path(filepath).absolute()
    if path.is_symlink() or not _inside(path, spec.output_dir):
        raise NothingDownloadedError(f"the downloaded file is not inside the job's directory: {path}")
    size = path.stat().st_size
    if size == 0:
        raise TruncatedDownloadError("the downloaded file is empty")
    if spec.max_filesize is not None and size > spec.max_filesize:
        raise FileTooLargeError(f"the media is larger than the limit of {spec.max_filesize} bytes")
    tracker.set_stage("postprocessing")
    sha256 = sha256_of(path)

    def pick(key: str) -> object:
        return entry.get(key) if entry.get(key) is not None else info.get(key)

    duration = _as_float(pick("duration"))
    width = _as_int(pick("width"))
    height = _as_int(pick("height"))
    if duration is None or ((width is None or height is None) and not spec.audio_only):
        probed = probe(path, ffmpeg=_ffmpeg_location(spec))
        duration = duration if duration is not None else probed.duration
        width = width if width is not None else probed.width
        height = height if height is not None else probed.height
    if spec.max_duration is not None and duration is not None and duration > spec.max_duration:
        raise DurationTooLongError(f"the media is {duration:g} s long; the limit is {spec.max_duration:g} s")
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
        extra_files=_extra_files(spec, path),
        resumed_from=guard.resumed_from,
    )


def download(
    spec: ChildSpec, emit: Callable[[ChildEvent], None], throttle: Throttle | None = None
) -> DoneEvent:
    """Run the download described by ``spec`` in this process. Raises on failure."""
    check_url_scheme(spec.url)
    if not spec.allow_private_networks:
        _forbid_external_fetchers()
    from yt_dlp.utils import YoutubeDLError

    os.makedirs(spec.output_dir, exist_ok=True)
    os.makedirs(spec.temp_dir, exist_ok=True)
    logger = _QuietLogger()
    tracker = _ProgressTracker(
        emit,
        spec.max_filesize,
        throttle=throttle,
        disk_path=spec.temp_dir,
        min_free_bytes=spec.min_free_bytes,
    )
    guard = ResumeGuard(spec.temp_dir)
    tracker.set_stage("extracting")
    try:
        info = _run_ytdlp(spec, tracker, logger, guard, continuedl=True)
    except YoutubeDLError as exc:
        if not is_range_not_satisfiable(exc):
            raise
        # A complete (or stale) .part makes every resume fail with 416 (yt-dlp#12994): start over once.
        print("HTTP 416 on resume: wiping temp_dir, downloading from scratch", file=sys.stderr, flush=True)
        wipe(Path(spec.temp_dir))
        tracker.reset()
        guard.reset()
        info = _run_ytdlp(spec, tracker, logger, guard, continuedl=False)
    return _finish(spec, info, tracker, logger, guard)


def _entry(item: Any) -> Entry | None:
    if not isinstance(item, dict):
        return None
    url = _as_str(item.get("url")) or _as_str(item.get("webpage_url"))
    if url is None or len(url) > MAX_ENTRY_URL:
        return None
    try:
        check_url_scheme(url)
    except UnsupportedUrlError:
        return None
    return Entry(url=url, title=_as_str(item.get("title")), duration=_as_float(item.get("duration")))


def list_playlist(spec: ChildSpec, emit: Callable[[ChildEvent], None]) -> EntriesEvent:
    """The entries of the playlist at ``spec.url`` without resolving them (``extract_flat='in_playlist'``)."""
    check_url_scheme(spec.url)
    if not spec.allow_private_networks:
        _forbid_external_fetchers()
    import yt_dlp

    cap = min(spec.playlist_limit or spec.max_entries, spec.max_entries)
    logger = _QuietLogger()
    tracker = _ProgressTracker(emit, None)
    tracker.set_stage("extracting")
    params = build_params(spec.model_copy(update={"audio_only": False, "container": None}), tracker, logger)
    params.update({"noplaylist": False, "extract_flat": "in_playlist", "skip_download": True})
    if spec.playlist_items:
        params["playlist_items"] = spec.playlist_items
    else:
        params["playlistend"] = cap + 1  # one more than wanted tells whether there are more
    with yt_dlp.YoutubeDL(params) as ydl:
        info = ydl.extract_info(spec.url, download=False)
    if not isinstance(info, dict):
        raise NothingDownloadedError("yt-dlp returned nothing for this URL")
    if info.get("_type") not in ("playlist", "multi_video"):
        single = Entry(
            url=spec.url, title=_as_str(info.get("title")), duration=_as_float(info.get("duration"))
        )
        return EntriesEvent(title=single.title, entries=[single], playlist=False)
    entries: list[Entry] = []
    skipped = 0
    raw = list(info.get("entries") or [])
    for item in raw[:cap]:
        found = _entry(item)
        if found is None:
            skipped += 1
        else:
            entries.append(found)
    return EntriesEvent(
        title=_as_str(info.get("title")), entries=entries, truncated=len(raw) > cap, skipped=skipped
    )


def _limit_file_size(max_filesize: int | None) -> None:
    """No file this process (or its ffmpeg) writes may grow past the size limit: writes fail with EFBIG."""
    if max_filesize is None:
        return
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited by ffmpeg: EFBIG instead of a core dump
    limit = max_filesize + FSIZE_SLACK
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    except (ValueError, OSError):
        pass


def _follow_controls(stream: BinaryIO, throttle: Throttle) -> None:
    """Apply the parent's `ControlMessage`s (bandwidth share) until stdin ends."""
    for line in stream:
        if not line.strip():
            continue
        try:
            message = ControlMessage.model_validate_json(line)
        except ValueError as exc:
            print(f"ignoring an invalid control line: {one_line(exc)}", file=sys.stderr, flush=True)
            continue
        throttle.set_rate(message.share_limit)


def _hit_size_limit(spec: ChildSpec) -> bool:
    if spec.max_filesize is None:
        return False
    for directory in (spec.temp_dir, spec.output_dir):
        for root, _dirs, files in os.walk(directory):
            for name in files:
                try:
                    if os.path.getsize(os.path.join(root, name)) > spec.max_filesize:
                        return True
                except OSError:
                    continue
    return False


def main() -> int:
    die_with_parent()
    sys.dont_write_bytecode = True
    proto = _Protocol()
    stdin = sys.stdin.buffer
    try:
        spec = ChildSpec.model_validate_json(stdin.readline())
    except Exception as exc:
        proto.emit(FailedEvent(kind="permanent", error_type="InvalidSpec", message=one_line(exc)))
        return EXIT_BAD_SPEC
    # before any network access or file write
    install_connect_guard(allow_private=spec.allow_private_networks, allowed_networks=spec.allowed_networks)
    install_write_jail([spec.output_dir, spec.temp_dir])
    _limit_file_size(spec.max_filesize)
    throttle = Throttle(spec.share_limit)
    threading.Thread(target=_follow_controls, args=(stdin, throttle), name="controls", daemon=True).start()
    try:
        result: DoneEvent | EntriesEvent
        if spec.action == "list":
            result = list_playlist(spec, proto.emit)
        else:
            result = download(spec, proto.emit, throttle)
    except Exception as exc:
        failure: BaseException = exc
        if spec.action == "download" and not isinstance(exc, FileTooLargeError) and _hit_size_limit(spec):
            failure = FileTooLargeError(f"the media is larger than the limit of {spec.max_filesize} bytes")
        kind = classify(failure)
        if kind == "permanent" and spec.action == "download":
            wipe(Path(spec.temp_dir))  # nothing to resume: don't leave a partial file behind
        proto.emit(FailedEvent(kind=kind, error_type=error_type(failure), message=one_line(failure)))
        return EXIT_FAILED
    proto.emit(result)
    return EXIT_DONE


if __name__ == "__main__":
    sys.exit(main())
