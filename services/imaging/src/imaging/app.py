"""The imaging service: consumes `image_processing` (thumbnails, resizes, optimisation, storyboards).

Handlers run on the event loop; the decoding and encoding they ask for runs in a pool of worker processes
(`imaging.pool`), started with the service and stopped after its last job.
"""

from __future__ import annotations

from imaging.handlers import image_optimize, image_resize, storyboard, thumbnail
from imaging.pool import CpuPool, install_pool
from imaging.settings import ImagingSettings, imaging_settings, install_settings
from jobcommon import JobService, Queue


def build(settings: ImagingSettings | None = None) -> JobService:
    settings = install_settings(settings or imaging_settings())
    service = JobService("imaging", Queue.IMAGE_PROCESSING, settings)
    service.handler("thumbnail")(thumbnail)
    service.handler("image_resize")(image_resize)
    service.handler("image_optimize")(image_optimize)
    service.handler("storyboard")(storyboard)
    pool = install_pool(CpuPool(settings.imaging_workers, settings.imaging_max_pixels))

    async def start_pool() -> None:
        pool.start()

    service.app.on_startup(start_pool)
    service.app.after_shutdown(pool.close)  # after the broker stopped: no job still needs it
    return service
