"""Downloader settings (environment variables)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from faststream import Depends
from pydantic import Field

from jobcommon import WorkerSettings


class DownloaderSettings(WorkerSettings):
    download_socket_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a silent connection may block before yt-dlp gives up on it."
    )
    download_retries: int = Field(default=3, ge=0, description="yt-dlp's own retries within one attempt.")
    download_allow_private_networks: bool = Field(
        default=False,
        description="Allow downloads from loopback/private/link-local addresses (tests, home setups).",
    )
    ffmpeg_location: str | None = Field(
        default=None, description="ffmpeg binary; default: ffmpeg on PATH, else the one imageio-ffmpeg ships."
    )
    download_max_filesize: int | None = Field(default=None, gt=0, description="Bytes; larger downloads fail.")


@lru_cache(maxsize=1)
def downloader_settings() -> DownloaderSettings:
    return DownloaderSettings()


async def _inject_settings() -> DownloaderSettings:
    # async on purpose: FastStream runs a sync dependency in a worker thread, once per message
    return downloader_settings()


Settings = Annotated[DownloaderSettings, Depends(_inject_settings)]
