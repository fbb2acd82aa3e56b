"""Metadata of a downloaded media file via OpenCV's bundled FFmpeg, plus a streaming sha256.

yt-dlp's generic extractor does not know duration/width/height of a direct media URL; this
fills them in after the download. There is no ffprobe in imageio-ffmpeg, so OpenCV it is.

Before anything is decoded the file's magic bytes must look like a media container: a playlist
saved under a media name (``media.mp4`` that is really an HLS playlist) would otherwise make the
demuxer open the local files named inside it. FFmpeg then opens it with local protocols only and the
demuxer of the sniffed container (ffmpeg) or of video containers (OpenCV): `jobcommon.ffmpeg_inputs`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from jobcommon.ffmpeg_inputs import MEDIA_CONTAINERS, VIDEO_CONTAINERS, cli_input_options, restrict_opencv
from jobcommon.sniff import sniff

_CHUNK = 1024 * 1024
_FFMPEG_TIMEOUT_S = 30.0
_DURATION_RE = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class ProbeInfo:
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frame_count: int | None = None


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def media_container(path: str | Path) -> str | None:
    """The audio or video container the first bytes announce (`jobcommon.sniff`); None for anything else."""
    try:
        found = sniff(Path(path))
    except OSError:
        return None
    return found.container if found.container in MEDIA_CONTAINERS else None


def _positive_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) and value > 0 else None


def _positive_int(value: float) -> int | None:
    return round(value) if math.isfinite(value) and value > 0 else None


def ffmpeg_duration(path: str | Path, ffmpeg: str) -> float | None:
    """Duration from ``ffmpeg -i`` (audio files, which OpenCV can't open); None when unknown.

    Only the demuxer of the sniffed container and local protocols are allowed, so a playlist in disguise
    can't make ffmpeg open other files.
    """
    container = media_container(path)
    if container is None:
        return None
    cmd = [ffmpeg, "-hide_banner", "-nostdin", *cli_input_options([container]), "-i", f"file:{path}"]
    try:
        done = subprocess.run(
            cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=_FFMPEG_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _DURATION_RE.search(done.stderr.decode("utf-8", "replace"))
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return _positive_float(int(hours) * 3600 + int(minutes) * 60 + float(seconds))


def probe(path: str | Path, *, ffmpeg: str | None = None) -> ProbeInfo:
    """Duration, size, fps and frame count of a video file. Never raises: unknown fields are None.

    With ``ffmpeg``, a file OpenCV can't measure (audio only) still gets its duration from ffmpeg.
    """
    info = _probe_cv2(path)
    if info.duration is None and ffmpeg is not None:
        duration = ffmpeg_duration(path, ffmpeg)
        if duration is not None:
            info = ProbeInfo(
                duration=duration,
                width=info.width,
                height=info.height,
                fps=info.fps,
                frame_count=info.frame_count,
            )
    return info


def _probe_cv2(path: str | Path) -> ProbeInfo:
    if media_container(path) not in VIDEO_CONTAINERS:
        return ProbeInfo()
    try:
        import cv2

        restrict_opencv()
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    except Exception:
        return ProbeInfo()
    try:
        if not cap.isOpened():
            return ProbeInfo()
        fps = _positive_float(float(cap.get(cv2.CAP_PROP_FPS)))
        frames = _positive_int(float(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        width = _positive_int(float(cap.get(cv2.CAP_PROP_FRAME_WIDTH)))
        height = _positive_int(float(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        duration = frames / fps if frames is not None and fps is not None else None
        return ProbeInfo(duration=duration, width=width, height=height, fps=fps, frame_count=frames)
    except Exception:
        return ProbeInfo()
    finally:
        with contextlib.suppress(Exception):
            cap.release()
