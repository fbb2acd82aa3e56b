"""The downloader service: consumes `video_downloads`."""

from __future__ import annotations

from downloader.download import video_download
from downloader.playlist import playlist_download
from downloader.settings import DownloaderSettings, downloader_settings
from jobcommon import JobService, Queue


def build(settings: DownloaderSettings | None = None) -> JobService:
    service = JobService("downloader", Queue.VIDEO_DOWNLOADS, settings or downloader_settings())
    service.handler("video_download")(video_download)
    service.handler("playlist_download")(playlist_download)
    return service
