"""Downloader settings (environment variables).

Limits are on by default. Sizes and rates accept plain bytes or a suffix (``500K``, ``10M``, ``8G``,
``1.5GiB``: K/M/G/T are powers of 1024); ``0`` switches a limit off.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from jobcommon import HostLimits, NetworkGuardSettings, WorkerSettings, provided

GIB = 1024**3

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: Any) -> Any:
    """``"10M"`` → 10485760; ints, floats and anything else pass through to pydantic unchanged."""
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match is None:
            return value  # pydantic reports it
        number, unit = match.groups()
        return int(float(number) * _UNITS[unit.lower()])
    return value


def _zero_is_off(value: int | None) -> int | None:
    return None if value == 0 else value


Size = Annotated[int, BeforeValidator(parse_size)]


class DownloaderSettings(WorkerSettings, NetworkGuardSettings):
    metrics_port: int = Field(
        default=9101, ge=0, le=65535, description="Port of the Prometheus endpoint (/metrics); 0: off."
    )
    download_socket_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a silent connection may block before yt-dlp gives up on it."
    )
    download_retries: int = Field(default=3, ge=0, description="yt-dlp's own retries within one attempt.")
    ffmpeg_location: str | None = Field(
        default=None, description="ffmpeg binary; default: ffmpeg on PATH, else the one imageio-ffmpeg ships."
    )
    download_max_filesize: Size | None = Field(
        default=8 * GIB,
        ge=0,
        description="Bytes; a larger download stops and fails permanently, its partial file removed. "
        "0: no limit.",
    )
    download_max_duration_s: float | None = Field(
        default=6 * 3600.0,
        ge=0,
        description="Media longer than this is refused: before the download when the duration is known, else "
        "after it (probed). 0: no limit.",
    )
    download_rate_limit: Size | None = Field(
        default=None, ge=0, description="Bytes/s for each download (yt-dlp ratelimit). 0/unset: no limit."
    )
    download_total_rate_limit: Size | None = Field(
        default=None,
        ge=0,
        description="Bytes/s shared by all running downloads of this process: each gets an equal share, "
        "re-divided whenever one starts or ends. 0/unset: no limit.",
    )
    download_timeout_s: float | None = Field(
        default=300.0,
        ge=0,
        description="Inactivity timeout: a download that receives no data (and does not change stage) for "
        "this long is stopped and retried later. Post-processing (merge/remux/hash) is exempt; the job's "
        "time limit bounds everything. 0: off.",
    )
    download_min_free_bytes: Size = Field(
        default=1 * GIB,
        ge=0,
        description="Refuse to start (transient error) while MEDIA_ROOT has less free space than this; a "
        "download whose announced size would leave less than this free stops the same way.",
    )
    download_forkserver: bool = Field(
        default=True,
        description="Fork download processes from a pre-imported zygote (milliseconds per start) instead of "
        "starting a fresh interpreter (about a second of CPU each). See downloader.forkserver.",
    )
    download_max_playlist_entries: int = Field(
        default=1000, ge=1, le=100_000, description="At most this many entries are listed from one playlist."
    )

    @field_validator("download_max_filesize", "download_rate_limit", "download_total_rate_limit")
    @classmethod
    def _zero_bytes_is_off(cls, value: int | None) -> int | None:
        return _zero_is_off(value)

    @field_validator("download_max_duration_s", "download_timeout_s")
    @classmethod
    def _zero_seconds_is_off(cls, value: float | None) -> float | None:
        return None if value == 0 else value


Settings = Annotated[DownloaderSettings, provided("settings")]
HostTurns = Annotated[HostLimits, provided("host_limits")]
"""Handler parameter: turns at each remote host's shared rate limit (`RATE_LIMITS`)."""
"""Handler parameter: the settings `downloader.app.build` was given."""
