"""Requests of the `image_processing` queue. Inputs (`sources`) are files under MEDIA_ROOT, named by a
relative path or by the task id of a finished job whose output to use; at least one, but for a follow-up
job (in `then`), which names none and takes its parent's output.

One source: the job's result is that source's result (with `path`, the main output). Several sources: a
bulk job; each source's result or error is recorded as an item and the result counts them. A source that
fails does not fail a bulk job unless every source fails.

Outputs are capped in pixels (`MAX_OUTPUT_PIXELS` per image, `MAX_JOB_OUTPUT_PIXELS` per job and source,
`MAX_TILE_HEIGHT` per storyboard tile): a request whose outputs are too large by itself is refused at
submission (422 naming the field); one that is too large only for its source (a `fit` box on a large image,
a storyboard of a long or tall video) fails permanently with ``OutputTooLarge``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from jobcommon.job_types import job_type
from jobcommon.policies import JobPolicy
from jobcommon.queues import QUEUES, Queue
from jobcommon.requests.base import JobRequestBase, StrictModel, media_source

MAX_SOURCES = 1000
MAX_SHEET_SIDE = 16_383
"""Largest sprite-sheet side any output format takes (WebP's limit)."""
MAX_OUTPUT_PIXELS = 40_000_000
"""Largest output image (width × height): a resize output, a storyboard sheet (sheets get fewer rows to stay
below it), a thumbnail (at most 4096² by its request). `image_optimize` writes its source's size, bounded by
the service's decompression-bomb limit (``IMAGING_MAX_PIXELS``) instead: it never enlarges anything."""
MAX_JOB_OUTPUT_PIXELS = 200_000_000
"""All the images a job makes from one source together (every spec, size or sheet); a bulk job's sources
each have this much, and their number is capped by `MAX_SOURCES`."""
MAX_TILE_HEIGHT = 1080
"""Tallest storyboard tile: the tile width scaled to the video's aspect ratio may not exceed it."""
ImageFormat = Literal["jpeg", "webp", "avif", "png"]
HEX_COLOUR = r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$"


IMAGE_WORK = JobPolicy(
    max_attempts=3, backoff_base_s=2.0, backoff_cap_s=120.0, soft_limit_s=1800.0, hard_limit_s=1900.0
)
"""Imaging jobs: bulk ones over many sources may take a while."""


class _ImagingRequest(JobRequestBase):
    sources: list[Annotated[str, AfterValidator(media_source)]] = Field(
        default_factory=list,
        max_length=MAX_SOURCES,
        validate_default=True,
        description="Input files: MEDIA_ROOT-relative paths or task ids of finished jobs (their output). "
        "Left out only in a follow-up (`then`), which takes its parent's output.",
    )
    concurrency: int = Field(default=2, ge=1, le=32, description="Sources processed at once (bulk jobs).")

    @field_validator("sources")
    @classmethod
    def _some_sources(cls, value: list[str]) -> list[str]:
        """Each source is checked on its own (a bad one is named by its index: `sources.3`)."""
        if not value:  # a follow-up's are filled with its parent before it is validated
            raise ValueError(
                "give at least one source (a MEDIA_ROOT-relative path or a finished job's task id); only a "
                "follow-up in `then` leaves it out, to take its parent's output"
            )
        return value


MAX_AT_S = 366 * 86400.0
"""Latest `at_s` taken: a year into a video, past any recording (a later time is a mistake, not a frame)."""


@job_type(queue=QUEUES[Queue.IMAGE_PROCESSING], policy=IMAGE_WORK)
class ThumbnailRequest(_ImagingRequest):
    """A thumbnail from a video: the sharpest of `candidates` frames (black/flat frames skipped), or the frame
    at `at_s`. An image source is thumbnailed as it is."""

    job_type: Literal["thumbnail"] = "thumbnail"
    at_s: float | None = Field(
        default=None,
        ge=0,
        le=MAX_AT_S,
        description="Use the frame at this time (clamped to the last frame).",
    )
    candidates: int = Field(
        default=5, ge=1, le=50, description="Frames compared, evenly spread over 10–90 % of the video."
    )
    sizes: list[Annotated[int, Field(ge=8, le=4096)]] = Field(
        default_factory=lambda: [320],
        min_length=1,
        max_length=8,
        description="Longest side of each thumbnail in pixels (never enlarged beyond the source).",
    )
    format: ImageFormat = "jpeg"
    quality: int = Field(default=85, ge=1, le=100)

    @field_validator("sizes")
    @classmethod
    def _distinct_sizes(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("sizes must be distinct")
        return value


class ResizeSpec(StrictModel):
    width: int = Field(ge=1, le=10_000)
    height: int = Field(ge=1, le=10_000)
    mode: Literal["fit", "fill", "pad"] = Field(
        default="fit",
        description="fit: inside the box, aspect kept; fill: exactly the box, centre cropped; "
        "pad: exactly the box, the image fitted inside on the background.",
    )
    upscale: bool = Field(
        default=False, description="fit/pad: enlarge sources smaller than the box (fill always fills it)."
    )
    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="Output file name without extension; default `<width>x<height>_<mode>`.",
    )

    @property
    def stem(self) -> str:
        return self.name or f"{self.width}x{self.height}_{self.mode}"

    @property
    def exact_pixels(self) -> int | None:
        """The output's pixels when the request alone says (fill and pad: exactly the box); None for fit."""
        return None if self.mode == "fit" else self.width * self.height

    @model_validator(mode="after")
    def _output_fits(self) -> Self:
        pixels = self.exact_pixels
        if pixels is not None and pixels > MAX_OUTPUT_PIXELS:
            raise ValueError(
                f"a {self.mode} output is exactly {self.width}×{self.height} = {pixels} pixels; "
                f"at most {MAX_OUTPUT_PIXELS} per image"
            )
        return self


@job_type(queue=QUEUES[Queue.IMAGE_PROCESSING], policy=IMAGE_WORK)
class ImageResizeRequest(_ImagingRequest):
    """One image to several sizes, honouring EXIF orientation."""

    job_type: Literal["image_resize"] = "image_resize"
    specs: list[ResizeSpec] = Field(
        min_length=1,
        max_length=16,
        description=f"Outputs per source: each at most {MAX_OUTPUT_PIXELS} pixels, all together at most "
        f"{MAX_JOB_OUTPUT_PIXELS} (fill/pad: refused at submission; fit: the source fails beyond them).",
    )
    format: ImageFormat | Literal["keep"] = Field(
        default="keep", description="keep: the source's format (PNG for GIF and TIFF sources)."
    )
    quality: int = Field(default=85, ge=1, le=100)
    strip_metadata: bool = Field(
        default=True,
        description="Drop EXIF, XMP and the colour profile (pixels converted to sRGB first); "
        "false keeps them (EXIF orientation reset, as the pixels are upright).",
    )
    background: str | None = Field(
        default=None,
        pattern=HEX_COLOUR,
        description="pad colour `#rrggbb[aa]`; default transparent where the format has alpha, else white. "
        "Also what transparency is flattened onto for JPEG.",
    )

    @field_validator("specs")
    @classmethod
    def _outputs_fit(cls, value: list[ResizeSpec]) -> list[ResizeSpec]:
        pixels = sum(spec.exact_pixels or 0 for spec in value)
        if pixels > MAX_JOB_OUTPUT_PIXELS:
            raise ValueError(
                f"the fill and pad outputs alone are {pixels} pixels per source; "
                f"at most {MAX_JOB_OUTPUT_PIXELS} per job"
            )
        return value

    @model_validator(mode="after")
    def _distinct_names(self) -> Self:
        stems = [spec.stem for spec in self.specs]
        if len(set(stems)) != len(stems):
            raise ValueError("specs must have distinct names (set `name` on repeated sizes)")
        return self


@job_type(queue=QUEUES[Queue.IMAGE_PROCESSING], policy=IMAGE_WORK)
class ImageOptimizeRequest(_ImagingRequest):
    """Re-encode images with quality settings (or convert them); reports the bytes saved."""

    job_type: Literal["image_optimize"] = "image_optimize"
    format: ImageFormat | Literal["keep"] = "keep"
    quality: int = Field(default=80, ge=1, le=100)
    strip_metadata: bool = True


@job_type(queue=QUEUES[Queue.IMAGE_PROCESSING], policy=IMAGE_WORK)
class StoryboardRequest(_ImagingRequest):
    """A sprite sheet of frames every `interval_s` seconds plus a WebVTT file mapping times to tiles."""

    job_type: Literal["storyboard"] = "storyboard"
    interval_s: float = Field(default=5.0, ge=0.1, le=3600)
    tile_width: int = Field(
        default=160,
        ge=16,
        le=1920,
        description=f"Tiles take the video's aspect ratio, at most {MAX_TILE_HEIGHT} px tall; all sheets of "
        f"a source together at most {MAX_JOB_OUTPUT_PIXELS} pixels.",
    )
    columns: int = Field(default=10, ge=1, le=50)
    max_rows: int = Field(
        default=10, ge=1, le=100, description="Rows per sprite sheet; more tiles start another sheet."
    )
    format: ImageFormat = "jpeg"
    quality: int = Field(default=75, ge=1, le=100)

    @model_validator(mode="after")
    def _sheet_fits(self) -> Self:
        if self.tile_width * self.columns > MAX_SHEET_SIDE:
            raise ValueError(f"tile_width × columns must be at most {MAX_SHEET_SIDE} pixels")
        return self
