"""Requests of the `image_processing` queue. Inputs (`sources`) are files under MEDIA_ROOT, named by a
relative path or by the task id of a finished job whose output to use; empty in a follow-up job, which
takes its parent's output."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from jobcommon.requests.base import JobRequestBase, StrictModel, media_source

MAX_SOURCES = 1000
ImageFormat = Literal["jpeg", "webp", "avif", "png"]


class _ImagingRequest(JobRequestBase):
    sources: list[str] = Field(default_factory=list, max_length=MAX_SOURCES)
    concurrency: int = Field(default=2, ge=1, le=32, description="Sources processed at once (bulk jobs).")

    @field_validator("sources")
    @classmethod
    def _check_sources(cls, value: list[str]) -> list[str]:
        return [media_source(v) for v in value]


class ThumbnailRequest(_ImagingRequest):
    """A thumbnail from a video: the sharpest of `candidates` frames (black/flat frames skipped), or the frame
    at `at_s`."""

    job_type: Literal["thumbnail"] = "thumbnail"
    at_s: float | None = Field(default=None, ge=0)
    candidates: int = Field(default=5, ge=1, le=50)
    sizes: list[int] = Field(default_factory=lambda: [320], min_length=1, max_length=8)
    format: ImageFormat = "jpeg"
    quality: int = Field(default=85, ge=1, le=100)


class ResizeSpec(StrictModel):
    width: int = Field(ge=1, le=10_000)
    height: int = Field(ge=1, le=10_000)
    mode: Literal["fit", "fill", "pad"] = "fit"
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,40}$")


class ImageResizeRequest(_ImagingRequest):
    """One image to several sizes, honouring EXIF orientation."""

    job_type: Literal["image_resize"] = "image_resize"
    specs: list[ResizeSpec] = Field(min_length=1, max_length=16)
    format: ImageFormat | Literal["keep"] = "keep"
    quality: int = Field(default=85, ge=1, le=100)
    strip_metadata: bool = True


class ImageOptimizeRequest(_ImagingRequest):
    """Re-encode images with quality settings; reports the bytes saved."""

    job_type: Literal["image_optimize"] = "image_optimize"
    format: ImageFormat | Literal["keep"] = "keep"
    quality: int = Field(default=80, ge=1, le=100)
    strip_metadata: bool = True


class StoryboardRequest(_ImagingRequest):
    """A sprite sheet of frames every `interval_s` seconds plus a WebVTT file mapping times to tiles."""

    job_type: Literal["storyboard"] = "storyboard"
    interval_s: float = Field(default=5.0, gt=0, le=3600)
    tile_width: int = Field(default=160, ge=16, le=1920)
    columns: int = Field(default=10, ge=1, le=50)
    format: ImageFormat = "jpeg"
