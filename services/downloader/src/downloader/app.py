"""The downloader service: consumes `video_downloads`."""

from __future__ import annotations

import logging

from downloader import forkserver
from downloader.bandwidth import BandwidthPool
from downloader.download import video_download
from downloader.playlist import playlist_download
from downloader.settings import DownloaderSettings
from jobcommon import HostLimits, JobService, PlaylistDownloadRequest, Queue, VideoDownloadRequest
from jobcommon.provide import provide

log = logging.getLogger("mediajobs.downloader")


async def _warm_fork_server() -> None:
    """Start the zygote while the service is idle: the first download then waits milliseconds, not the
    second of imports (and, at a host's rate limit, starts fetching at its turn). A zygote that fails to
    start here is retried by the first download, which reports the failure."""
    try:
        await forkserver.fork_server().warm()
    except (OSError, TimeoutError) as exc:
        log.warning("the yt-dlp fork server did not start: %s", exc)


def build(settings: DownloaderSettings | None = None) -> JobService:
    """The service; its handlers receive `settings` (default: from the environment), one bandwidth pool and
    the hosts' shared rate limits."""
    settings = settings or DownloaderSettings()
    service = JobService("downloader", Queue.VIDEO_DOWNLOADS, settings)
    provide(
        service,
        settings=settings,
        bandwidth=BandwidthPool(settings.download_total_rate_limit),
        host_limits=HostLimits(service.redis, settings.rate_limits),
    )
    if settings.download_forkserver:
        service.app.after_startup(_warm_fork_server)
    service.handler(VideoDownloadRequest)(video_download)
    service.handler(PlaylistDownloadRequest)(playlist_download)
    return service
