"""Where jobs keep their files under MEDIA_ROOT: a job's output dir `<task id>/`, its scratch
`.tmp/<task id>/`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

SCRATCH_DIR = ".tmp"
"""MEDIA_ROOT/.tmp/<task id>/ is one job's scratch directory (partial downloads, work in progress)."""


def output_dir(media_root: Path, task_id: str) -> Path:
    """What the job produces: kept when it succeeds, removed when it fails or is cancelled."""
    return media_root / task_id


def scratch_dir(media_root: Path, task_id: str) -> Path:
    """The job's scratch space: kept across its attempts, removed when it leaves for good."""
    return media_root / SCRATCH_DIR / task_id
