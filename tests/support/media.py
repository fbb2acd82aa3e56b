"""Offline test media: small synthetic videos, audio/video pairs and HLS renditions, plus probing.

Every generator writes atomically (temporary name, then rename) and returns early when the
target already exists, so a session-scoped directory acts as a cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import imageio_ffmpeg
import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #\d+:\d+\S*: (Video|Audio): (\w+)")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's contents."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _partial(path: Path) -> Path:
    # Keep the real suffix last: cv2 and ffmpeg pick the container from it.
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def _ffmpeg(*args: str) -> None:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")


def make_mp4(
    path: Path,
    *,
    seconds: float = 5.0,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    noise: bool = False,
) -> Path:
    """Write an MPEG-4 (mp4v) video of distinct frames: a moving bar and a frame counter.

    ``noise=True`` adds per-frame random noise, which makes the file much larger
    (640x480 for 8 s gives roughly 3-4 MB) — handy for throttled-download tests.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial(path)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), float(fps), (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter could not open {tmp} with fourcc mp4v")
    rng = np.random.default_rng(1234)
    total = round(seconds * fps)
    bar = max(width // 16, 4)
    try:
        for i in range(total):
            frame = np.full((height, width, 3), 40, dtype=np.uint8)
            x = (i * 7) % max(width - bar, 1)
            frame[:, x : x + bar] = (0, 200, 255)
            cv2.putText(
                frame, f"{i:05d}", (10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2
            )
            if noise:
                cv2.add(frame, rng.integers(0, 18, frame.shape, dtype=np.uint8), dst=frame)
            writer.write(frame)
    finally:
        writer.release()
    os.replace(tmp, path)
    return path


def make_av_pair(directory: Path, *, seconds: float = 5.0) -> tuple[Path, Path]:
    """A video-only mp4 (H.264 test pattern) and an audio-only m4a (AAC sine) of equal duration."""
    directory.mkdir(parents=True, exist_ok=True)
    video = directory / "video_only.mp4"
    audio = directory / "audio_only.m4a"
    if not video.exists():
        tmp = _partial(video)
        _ffmpeg(
            "-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an", str(tmp),
        )  # fmt: skip
        os.replace(tmp, video)
    if not audio.exists():
        tmp = _partial(audio)
        _ffmpeg(
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
            "-c:a", "aac", "-b:a", "64k", "-vn", str(tmp),
        )  # fmt: skip
        os.replace(tmp, audio)
    return video, audio


def make_hls(directory: Path, source_mp4: Path) -> Path:
    """Segment ``source_mp4`` (meant to be a short ~5 s clip) into an HLS VOD in ``directory``.

    Produces ``index.m3u8`` plus ``segNNN.ts`` (H.264 in MPEG-TS, 1 s segments, keyframe every
    second) and returns the playlist path. Use a dedicated directory per rendition.
    """
    playlist = directory / "index.m3u8"
    if playlist.exists():
        return playlist
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / ".index.partial.m3u8"
    _ffmpeg(
        "-i", str(source_mp4),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-force_key_frames", "expr:gte(t,n_forced*1)", "-an",
        "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
        "-hls_segment_type", "mpegts", "-hls_segment_filename", str(directory / "seg%03d.ts"),
        str(tmp),
    )  # fmt: skip
    os.replace(tmp, playlist)
    return playlist


@dataclass(frozen=True)
class MediaInfo:
    duration: float | None  # seconds, None when the container doesn't say
    video_codec: str | None  # ffmpeg codec name of the first video stream, e.g. "h264"
    audio_codec: str | None  # e.g. "aac"


def probe(source: Path | str) -> MediaInfo:
    """Duration and codecs of a local file or URL, read from ``ffmpeg -i`` (there is no ffprobe)."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(source)]
    stderr = subprocess.run(cmd, capture_output=True, text=True, check=False).stderr
    match = _DURATION.search(stderr)
    if match is None and not _STREAM.search(stderr):
        raise RuntimeError(f"ffmpeg could not read {source}:\n{stderr}")
    codecs: dict[str, str] = {}
    for kind, codec in _STREAM.findall(stderr):
        codecs.setdefault(kind, codec)
    duration = None
    if match is not None:
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return MediaInfo(duration=duration, video_codec=codecs.get("Video"), audio_codec=codecs.get("Audio"))
