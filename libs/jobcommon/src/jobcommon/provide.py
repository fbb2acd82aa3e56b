"""How what a service's ``build(settings)`` creates reaches its handlers: one way, FastStream's context.

`build()` puts each shared object (its settings, pools, caches) into the service broker's context under a
name; a handler declares a parameter annotated with `provided(name)` and receives exactly that object::

    Settings = Annotated[DownloaderSettings, provided("settings")]

    async def video_download(request: VideoDownloadRequest, ctx: JobCtx, settings: Settings) -> ...

    def build(settings: DownloaderSettings) -> JobService:
        service = JobService("downloader", Queue.VIDEO_DOWNLOADS, settings)
        provide(service, settings=settings, bandwidth=BandwidthPool(settings.download_total_rate_limit))

Nothing is read from the environment behind `build()`'s back, no module global holds a service's state, and
a lookup costs a dictionary access per message (no dependency call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faststream import Context

if TYPE_CHECKING:
    from jobcommon.service import JobService


def provide(service: JobService, **objects: object) -> None:
    """Make each of `objects` what handlers of `service` receive under its keyword's name."""
    for name, value in objects.items():
        service.broker.context.set_global(name, value)


def provided(name: str) -> Any:
    """Handler parameter annotation: ``Annotated[<type>, provided(name)]`` receives what `provide` set."""
    return Context(name)
