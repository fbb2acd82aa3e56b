"""What the imaging jobs return (stored as the job's `result`). Paths are relative to MEDIA_ROOT.

A job with one source returns that source's result, whose `path` names the main output (what a follow-up
job in a pipeline takes as its input). A job with several sources returns a `BulkResult` and records each
source's outcome as an item (`jobcommon.items.ItemRecord`, GET /jobs/{task_id}/items).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from jobcommon import BulkSummary

# Runtime imports above on purpose: pydantic resolves the models' annotations.


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class ImageFile(_Result):
    """One written image."""

    path: str
    format: str
    width: int
    height: int
    bytes: int


class VideoInfo(_Result):
    width: int
    height: int
    fps: float
    frames: int
    duration_s: float


class Candidate(_Result):
    """A frame considered for the thumbnail."""

    time_s: float
    frame: int
    sharpness: float
    """Variance of the Laplacian (320 px wide greyscale)."""
    flat: bool
    """Nearly black or without contrast: ranked behind every frame with content."""


class ThumbnailResult(_Result):
    path: str
    """The largest thumbnail."""
    source: str
    source_kind: Literal["video", "image"]
    source_format: str
    """Images: Pillow's name of the format (``JPEG``, ``PNG``, …); videos: the container (``mp4``, ``mov``,
    ``matroska``, …) as `jobcommon.sniff` names it."""
    picked: Literal["sharpest", "at_s", "image"]
    animated: bool = False
    """The image source is an animation (GIF, WebP, APNG, AVIF): the thumbnails show its first frame
    (`frame` 0)."""
    time_s: float | None = None
    """Time of the frame used (videos)."""
    clamped_from: float | None = None
    """The `at_s` asked for, when it was past the video's last frame (or the last that decodes): `time_s` is
    then that last frame's time, earlier than asked. None when the frame at `at_s` was used."""
    frame: int | None = None
    """Index of the frame used (videos, animated images)."""
    sharpness: float | None = None
    candidates: list[Candidate] = []
    video: VideoInfo | None = None
    thumbnails: list[ImageFile]
    """One per requested size, in the order requested."""


class Frames(_Result):
    """How many frames an output holds; an animation's also how long it runs and how often it plays."""

    frames: int = 1
    """Frames written: those of an animated source (the encoders merge identical consecutive frames, adding
    their durations), 1 for a still image."""
    duration_ms: int | None = None
    """An animation's running time (the sum of its frames' durations)."""
    loop: int | None = None
    """Times an animation plays, 0 forever (None for an AVIF output: Pillow writes no loop count)."""


class ResizedImage(ImageFile, Frames):
    name: str
    mode: Literal["fit", "fill", "pad"]


class ResizeResult(_Result):
    path: str
    """The first spec's output."""
    source: str
    source_format: str
    """Pillow's name of the format (``JPEG``, ``PNG``, …)."""
    source_width: int
    source_height: int
    """Upright size of the source (after its EXIF orientation)."""
    orientation: int
    """EXIF orientation of the source that was applied (1 = none)."""
    source_frames: int = 1
    """Frames of an animated source (every one is resized into each output); 1 for a still image."""
    metadata_stripped: bool
    outputs: list[ResizedImage]


class OptimizeResult(Frames):
    path: str
    source: str
    source_format: str
    """Pillow's name of the format (``JPEG``, ``PNG``, …)."""
    source_frames: int = 1
    """Frames of an animated source (every one is kept); 1 for a still image."""
    format: str
    width: int
    height: int
    bytes_before: int
    bytes_after: int
    bytes_saved: int
    """Negative when the re-encoded file is larger (e.g. a JPEG converted to PNG)."""
    saved_percent: float
    metadata_stripped: bool


class StoryboardResult(_Result):
    path: str
    """The WebVTT file (what a player loads); it names the sprite sheets relative to itself."""
    vtt: str
    sprites: list[ImageFile]
    tiles: int
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    """Rows of the largest sheet."""
    interval_s: float
    video: VideoInfo


class BulkResult(BulkSummary):
    """A job over several sources: counts, where the outputs are (a directory per source), first failures."""

    output_dir: str
    """Holds one directory per source, named by its index: `<output_dir>/0003/...`."""
