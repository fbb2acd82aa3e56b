"""What a caller may submit: one pydantic model per job type, joined in a discriminated union.

These are also the bodies of the stream messages the services consume, so a handler receives exactly what
was validated at submission.
"""

from typing import Annotated

from pydantic import Field, TypeAdapter

from jobcommon.requests.base import JobRequestBase, RetryOverride, TimeLimitOverride
from jobcommon.requests.download import DownloadOptions, PlaylistDownloadRequest, VideoDownloadRequest
from jobcommon.requests.echo import EchoRequest
from jobcommon.requests.imaging import (
    ImageOptimizeRequest,
    ImageResizeRequest,
    ResizeSpec,
    StoryboardRequest,
    ThumbnailRequest,
)
from jobcommon.requests.metadata import MetadataEnrichRequest, VideoInfoRequest

AnyJobRequest = (
    VideoDownloadRequest
    | PlaylistDownloadRequest
    | EchoRequest
    | VideoInfoRequest
    | MetadataEnrichRequest
    | ThumbnailRequest
    | ImageResizeRequest
    | ImageOptimizeRequest
    | StoryboardRequest
)

JobRequest = Annotated[AnyJobRequest, Field(discriminator="job_type")]
"""Any submittable job; `job_type` selects the model."""

JOB_REQUEST_ADAPTER: TypeAdapter[AnyJobRequest] = TypeAdapter(JobRequest)

__all__ = [
    "JOB_REQUEST_ADAPTER",
    "AnyJobRequest",
    "DownloadOptions",
    "EchoRequest",
    "ImageOptimizeRequest",
    "ImageResizeRequest",
    "JobRequest",
    "JobRequestBase",
    "MetadataEnrichRequest",
    "PlaylistDownloadRequest",
    "ResizeSpec",
    "RetryOverride",
    "StoryboardRequest",
    "ThumbnailRequest",
    "TimeLimitOverride",
    "VideoDownloadRequest",
    "VideoInfoRequest",
]
