"""The imaging service: consumes `image_processing` (thumbnails, resizes, optimisation, storyboards).

Handlers run on the event loop; the decoding and encoding they ask for runs in a pool of worker processes
(`imaging.pool`), started with the service and stopped after its last job.
"""

from __future__ import annotations

from imaging.handlers import image_optimize, image_resize, storyboard, thumbnail
from imaging.pool import CpuPool
from imaging.settings import ImagingSettings
from jobcommon import (
    ImageOptimizeRequest,
    ImageResizeRequest,
    JobService,
    Queue,
    StoryboardRequest,
    ThumbnailRequest,
)
from jobcommon.provide import provide


def build(settings: ImagingSettings | None = None) -> JobService:
    """The service; its handlers receive `settings` (default: from the environment) and one CPU pool."""
    settings = settings or ImagingSettings()
    service = JobService("imaging", Queue.IMAGE_PROCESSING, settings)
    pool = CpuPool(settings.imaging_workers, settings.imaging_max_pixels)
    provide(service, settings=settings, pool=pool)
    service.handler(ThumbnailRequest)(thumbnail)
    service.handler(ImageResizeRequest)(image_resize)
    service.handler(ImageOptimizeRequest)(image_optimize)
    service.handler(StoryboardRequest)(storyboard)

    async def start_pool() -> None:
        pool.start()

    service.app.on_startup(start_pool)
    service.app.after_shutdown(pool.close)  # after the broker stopped: no job still needs it
    return service
