"""The downloader service: consumes `video_downloads`."""

from __future__ import annotations

from downloader.bandwidth import BandwidthPool
from downloader.download import video_download
from downloader.playlist import playlist_download
from downloader.settings import DownloaderSettings
from jobcommon import JobService, PlaylistDownloadRequest, Queue, VideoDownloadRequest
from jobcommon.provide import provide


def build(settings: DownloaderSettings | None = None) -> JobService:
    """The service; its handlers receive `settings` (default: from the environment) and one bandwidth pool."""
    settings = settings or DownloaderSettings()
    service = JobService("downloader", Queue.VIDEO_DOWNLOADS, settings)
    provide(service, settings=settings, bandwidth=BandwidthPool(settings.download_total_rate_limit))
    service.handler(VideoDownloadRequest)(video_download)
    service.handler(PlaylistDownloadRequest)(playlist_download)
    return service
