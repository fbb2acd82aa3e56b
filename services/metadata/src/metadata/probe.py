"""Technical probe of a local media file: what it is (magic bytes), then its facts (OpenCV, Pillow, mutagen).

Blocking work runs on a small dedicated thread pool (`Prober`), never on the event loop. Files are never read
whole: the sniff reads 512 bytes, OpenCV's demuxer reads the container headers, Pillow the image header and
EXIF segment (`metadata.image_header`: no pixel is decoded, so an image of any size is described). There is
no ffprobe (imageio-ffmpeg does not ship one), hence OpenCV's bundled FFmpeg, which opens only what the sniff
called video, and then only with the demuxers of video containers and the local file protocol
(`jobcommon.ffmpeg_inputs`): nothing named inside a file is ever fetched. Sound (codec, sample rate,
channels) and tags (title, artist, album, ...) come from mutagen (`metadata.audio_facts`), for audio files
(MP3, M4A, Ogg, FLAC, WAV, AIFF) and for the sound track of MP4/MOV videos.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from jobcommon import PermanentError
from jobcommon.ffmpeg_inputs import restrict_opencv
from jobcommon.sniff import sniff
from jobcommon.tracing import tracer
from metadata.audio_facts import AudioTags, AudioUnreadableError, audio_facts
from metadata.image_header import ImageUnreadableError, image_facts

if TYPE_CHECKING:
    from pathlib import Path


class UnsupportedMediaError(PermanentError):
    """The file is not a media file (a playlist, text, or unknown bytes); it is not decoded."""


class MediaUnreadableError(PermanentError):
    """The file looks like media but cannot be read (corrupt, truncated, unknown codec)."""


class FileInfo(BaseModel):
    """Technical facts of one file under MEDIA_ROOT; what a kind of file does not have is None."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(description="Relative to MEDIA_ROOT.")
    size: int = Field(description="Bytes.")
    modified_at: datetime
    kind: Literal["video", "audio", "image"]
    container: str = Field(description="From the magic bytes: mp4, mov, webm, matroska, avi, jpeg, png, ...")
    codec: str | None = Field(
        default=None, description="Video: the codec's fourcc as the demuxer reports it."
    )
    duration: float | None = Field(default=None, description="Seconds.")
    fps: float | None = None
    frame_count: int | None = None
    width: int | None = None
    height: int | None = None
    bitrate: int | None = Field(default=None, description="Average bits per second over the whole file.")
    image_format: str | None = Field(default=None, description="Images: the format Pillow identified.")
    color_mode: str | None = Field(
        default=None, description="Images: Pillow's name of the pixel layout: 1, L, P, RGB, RGBA, CMYK, ..."
    )
    icc_profile: bool | None = Field(default=None, description="Images: whether an ICC profile is embedded.")
    orientation: int | None = Field(default=None, description="Images: EXIF orientation 1-8.")
    display_width: int | None = Field(default=None, description="Images: width once orientation is applied.")
    display_height: int | None = None
    captured_at: datetime | None = Field(
        default=None,
        description="Images: EXIF capture time (local time unless the camera stored its offset).",
    )
    camera: str | None = None
    audio_codec: str | None = Field(
        default=None,
        description='Audio, and the sound track of MP4/MOV videos: e.g. "mp3", "mp4a.40.2 (AAC LC)".',
    )
    sample_rate: int | None = Field(default=None, description="Audio: samples per second.")
    channels: int | None = Field(default=None, description="Audio: 1 mono, 2 stereo, ...")
    tags: AudioTags | None = Field(
        default=None, description="Audio, and MP4/MOV videos: the file's own title, artist, album, ... tags."
    )
    tag_frames_dropped: int | None = Field(
        default=None,
        description="Audio: ID3 frames left out of `tags` because their sizes did not fit in the tag.",
    )


def _positive_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) and value > 0 else None


def _positive_int(value: float) -> int | None:
    return round(value) if math.isfinite(value) and value > 0 else None


def _fourcc(value: float) -> str | None:
    code = int(value) if math.isfinite(value) and value > 0 else 0
    text = code.to_bytes(4, "little").decode("ascii", "replace").strip("\x00 ")
    return text if text and text.isprintable() else None


def _video_facts(path: Path) -> dict[str, object]:
    import cv2

    restrict_opencv()  # set by the Prober already; a no-op unless something changed it since
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise MediaUnreadableError("the video cannot be opened (corrupt file or unsupported codec)")
        fps = _positive_float(float(cap.get(cv2.CAP_PROP_FPS)))
        frames = _positive_int(float(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        return {
            "codec": _fourcc(float(cap.get(cv2.CAP_PROP_FOURCC))),
            "fps": fps,
            "frame_count": frames,
            "width": _positive_int(float(cap.get(cv2.CAP_PROP_FRAME_WIDTH))),
            "height": _positive_int(float(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))),
            "duration": frames / fps if frames is not None and fps is not None else None,
        }
    finally:
        with contextlib.suppress(Exception):
            cap.release()


def probe_file(path: Path, media_root: Path) -> FileInfo:
    """Probe one file (blocking). Raises `UnsupportedMediaError`, `MediaUnreadableError` or OSError."""
    stat = path.stat()
    found = sniff(path)
    common: dict[str, object] = {
        "path": str(path.relative_to(media_root.resolve())),
        "size": stat.st_size,
        "modified_at": datetime.fromtimestamp(stat.st_mtime, UTC),
        "container": found.container,
    }
    if found.kind == "video":
        facts = _video_facts(path)
        duration = facts["duration"]
        if isinstance(duration, float) and duration > 0:
            facts["bitrate"] = round(stat.st_size * 8 / duration)
        return FileInfo.model_validate({**common, **facts, **_sound_track(path), "kind": "video"})
    if found.kind == "image":
        try:
            image = image_facts(path, found.container)
        except ImageUnreadableError as exc:
            raise MediaUnreadableError(f"the image cannot be read: {exc}") from None
        return FileInfo.model_validate(
            {
                **common,
                "kind": "image",
                "width": image.width,
                "height": image.height,
                "image_format": image.format,
                "color_mode": image.mode,
                "icc_profile": image.icc_profile,
                "orientation": image.orientation,
                "display_width": image.display_width,
                "display_height": image.display_height,
                "captured_at": image.captured_at,
                "camera": image.camera,
            }
        )
    if found.kind == "audio":
        try:
            sound = audio_facts(path)
        except AudioUnreadableError as exc:
            raise MediaUnreadableError(f"the audio cannot be read: {exc}") from None
        facts = {} if sound is None else sound.model_dump(exclude_none=True)
        if sound is not None and sound.bitrate is None and sound.duration:
            facts["bitrate"] = round(stat.st_size * 8 / sound.duration)
        return FileInfo.model_validate({**common, **facts, "kind": "audio"})
    what = {"playlist": f"a playlist ({found.container})", "text": f"text ({found.container})"}.get(
        found.kind, "of no recognised media format"
    )
    raise UnsupportedMediaError(f"not a media file: its content is {what}; it was not decoded")


def _sound_track(path: Path) -> dict[str, object]:
    """The sound facts and tags of a video mutagen can read (MP4/MOV), without its length (the video's
    counts) or bitrate (the whole file's counts); nothing when it cannot."""
    try:
        sound = audio_facts(path)
    except AudioUnreadableError:
        return {}
    if sound is None:
        return {}
    return sound.model_dump(exclude_none=True, include={"audio_codec", "sample_rate", "channels", "tags"})


class Prober:
    """Runs `probe_file` on a dedicated thread pool, so probes neither block the event loop nor queue
    behind unrelated work on the default executor."""

    def __init__(self, media_root: Path, threads: int) -> None:
        self.media_root = media_root
        restrict_opencv()  # before any probe thread reads the environment
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="metadata-probe")

    async def probe(self, path: Path) -> FileInfo:
        loop = asyncio.get_running_loop()
        with tracer.start_as_current_span("metadata probe") as span:
            found = await loop.run_in_executor(self._executor, probe_file, path, self.media_root)
            span.set_attribute("mediajobs.media.kind", found.kind)
            return found

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
