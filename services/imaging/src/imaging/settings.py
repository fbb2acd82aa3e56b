"""Imaging settings (environment variables).

Besides the worker settings every service has (`CONCURRENCY` jobs at once, ...), the CPU pool's size and
the limits of what the work may decode.
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import Field

from imaging.work import Tuning
from jobcommon import WorkerSettings, provided


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ImagingSettings(WorkerSettings):
    metrics_port: int = Field(
        default=9103, ge=0, le=65535, description="Port of the Prometheus endpoint (/metrics); 0: off."
    )
    imaging_workers: int = Field(
        default_factory=_cores,
        ge=1,
        le=256,
        description="Processes of the CPU pool that decodes and encodes (default: the usable cores).",
    )
    imaging_max_pixels: int = Field(
        default=89_478_485,
        ge=1,
        description="Decompression-bomb limit: images (and video frames) with more pixels are refused.",
    )
    imaging_sequential_max_s: float = Field(
        default=60.0,
        ge=0,
        description="Videos shorter than this are read in one sequential pass; longer ones by seeking.",
    )
    imaging_max_storyboard_tiles: int = Field(
        default=10_000, ge=1, description="A storyboard needing more tiles fails (pick a longer interval)."
    )

    def tuning(self) -> Tuning:
        return Tuning(
            sequential_max_s=self.imaging_sequential_max_s,
            max_storyboard_tiles=self.imaging_max_storyboard_tiles,
        )


Settings = Annotated[ImagingSettings, provided("settings")]
"""Handler parameter: the settings `imaging.app.build` was given."""
