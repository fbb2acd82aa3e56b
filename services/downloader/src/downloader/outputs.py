"""What a finished download produced, verified and described: the media file and the extra files beside it.

The media file must be inside the job's output directory (no symlink), non-empty, as long as the server
announced, audio or video that can be played (`downloader.media_check`: not an HTML page served as
``video/mp4``, not an mp4 cut short) and within the size and duration limits; duration and size come from
yt-dlp's info or, where it does not know them (a direct file), from probing the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from downloader.child_protocol import DoneEvent
from downloader.failures import (
    DurationTooLongError,
    FileTooLargeError,
    NothingDownloadedError,
    TruncatedDownloadError,
)
from downloader.media_check import check_media
from downloader.media_probe import probe, sha256_of
from downloader.output_secrets import scrub_info_json
from downloader.resume import IMAGE_EXTS, SUBTITLE_EXTS
from downloader.ytdlp_params import ffmpeg_location
from jobcommon import ExtraFile, ExtraKind, span_records
from jobcommon.ytdlp.values import as_float, as_int, as_str

if TYPE_CHECKING:
    from downloader.child_protocol import ChildSpec
    from downloader.progress_hook import ProgressTracker
    from downloader.resume import ResumeGuard
    from jobcommon.ytdlp.logger import QuietLogger


def _inside(path: Path, directory: str) -> bool:
    return path.resolve().is_relative_to(Path(directory).resolve())


def _classify_extra(path: Path) -> tuple[ExtraKind, str | None] | None:
    name = path.name
    if not name.startswith("media."):
        return None
    if name.endswith(".info.json"):
        return "info_json", None
    ext = path.suffix.lstrip(".").lower()
    if ext in SUBTITLE_EXTS:
        middle = name[len("media.") : -(len(ext) + 1)]
        return "subtitle", middle or None
    if ext in IMAGE_EXTS:
        return "thumbnail", None
    return None


def extra_files(spec: ChildSpec, media: Path) -> list[ExtraFile]:
    """Subtitles, thumbnail and info JSON written beside `media` (absolute paths); the info JSON rewritten
    without the URL's secrets (`downloader.output_secrets`)."""
    extras: list[ExtraFile] = []
    for path in sorted(Path(spec.output_dir).iterdir()):
        if path == media or path.is_symlink() or not path.is_file() or not _inside(path, spec.output_dir):
            continue
        kind = _classify_extra(path)
        if kind is None:
            continue
        if kind[0] == "info_json":
            scrub_info_json(path, spec.url)
        extras.append(
            ExtraFile(path=str(path.absolute()), kind=kind[0], size=path.stat().st_size, language=kind[1])
        )
    return extras


def _media_file(spec: ChildSpec, info: Any, entry: dict[str, Any], logger: QuietLogger) -> Path:
    """The file yt-dlp says it wrote, once it is known to exist."""
    filepath = as_str(entry.get("filepath")) or as_str(
        info.get("filepath") if isinstance(info, dict) else None
    )
    if filepath is None or not os.path.isfile(filepath):
        if logger.too_large:
            raise FileTooLargeError(f"the media is larger than the limit of {spec.max_filesize} bytes")
        raise NothingDownloadedError("yt-dlp finished without producing a file")
    return Path(filepath).absolute()


def _check_size(spec: ChildSpec, size: int) -> None:
    if size == 0:
        raise TruncatedDownloadError("the downloaded file is empty")
    if spec.max_filesize is not None and size > spec.max_filesize:
        raise FileTooLargeError(f"the media is larger than the limit of {spec.max_filesize} bytes")


def _dimensions(
    spec: ChildSpec, path: Path, info: dict[str, Any], entry: dict[str, Any]
) -> tuple[float | None, int | None, int | None]:
    """(duration, width, height): yt-dlp's, completed by probing the file where it does not know them."""

    def pick(key: str) -> object:
        return entry.get(key) if entry.get(key) is not None else info.get(key)

    duration, width, height = as_float(pick("duration")), as_int(pick("width")), as_int(pick("height"))
    if duration is None or ((width is None or height is None) and not spec.audio_only):
        with span_records.span("ytdlp probe"):
            probed = probe(path, ffmpeg=ffmpeg_location(spec))
        duration = duration if duration is not None else probed.duration
        width = width if width is not None else probed.width
        height = height if height is not None else probed.height
    if spec.max_duration is not None and duration is not None and duration > spec.max_duration:
        raise DurationTooLongError(f"the media is {duration:g} s long; the limit is {spec.max_duration:g} s")
    return duration, width, height


def finished_download(
    spec: ChildSpec, info: Any, tracker: ProgressTracker, logger: QuietLogger, guard: ResumeGuard
) -> DoneEvent:
    """The `DoneEvent` of a download yt-dlp returned `info` for; raises if its file does not hold up."""
    downloads = info.get("requested_downloads") if isinstance(info, dict) else None
    entry: dict[str, Any] = downloads[0] if isinstance(downloads, list) and downloads else {}
    path = _media_file(spec, info, entry, logger)
    if tracker.truncated is not None:
        raise TruncatedDownloadError(tracker.truncated)
    if path.is_symlink() or not _inside(path, spec.output_dir):
        raise NothingDownloadedError(f"the downloaded file is not inside the job's directory: {path.name}")
    size = path.stat().st_size
    _check_size(spec, size)
    check_media(path)
    tracker.set_stage("postprocessing")
    with span_records.span("ytdlp checksum", **{"file.size": size}):
        sha256 = sha256_of(path)
    duration, width, height = _dimensions(spec, path, info, entry)
    return DoneEvent(
        path=str(path),
        size=size,
        sha256=sha256,
        title=as_str(info.get("title")),
        ext=path.suffix.lstrip(".") or as_str(entry.get("ext")) or "unknown_video",
        duration=duration,
        width=width,
        height=height,
        extractor=as_str(info.get("extractor")),
        webpage_url=as_str(info.get("webpage_url")),
        extra_files=extra_files(spec, path),
        resumed_from=guard.resumed_from,
    )
