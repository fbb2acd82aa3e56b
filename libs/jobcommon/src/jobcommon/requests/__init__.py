"""What a caller may submit: one pydantic model per built-in job type, each declared with its queue and
policy (`jobcommon.job_types`); importing this package registers them.

These are also the bodies of the stream messages the services consume, so a handler receives exactly what
was validated at submission. `JOB_TYPES.parse` validates a request of any registered type.
"""

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
from jobcommon.requests.metadata import MetadataEnrichRequest, MusicLookupRequest, VideoInfoRequest

AnyJobRequest = JobRequestBase
"""A request of any job type, for annotations (`JOB_TYPES.parse` returns the job type's own model)."""

__all__ = [
    "AnyJobRequest",
    "DownloadOptions",
    "EchoRequest",
    "ImageOptimizeRequest",
    "ImageResizeRequest",
    "JobRequestBase",
    "MetadataEnrichRequest",
    "MusicLookupRequest",
    "PlaylistDownloadRequest",
    "ResizeSpec",
    "RetryOverride",
    "StoryboardRequest",
    "ThumbnailRequest",
    "TimeLimitOverride",
    "VideoDownloadRequest",
    "VideoInfoRequest",
]
