"""One unit of CPU work as a pool process receives it: which file, where to write, how to notice a cancel.

Everything here is picklable and free of service imports, so pool processes stay light. A work function
writes only into `scratch` (under the job's temp dir); the handler moves the finished files into the job's
output dir. Work that outlives a cancelled job therefore never writes into an output dir.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from imaging.errors import WorkCancelled


@dataclass(frozen=True, slots=True)
class CancelToken:
    """A flag file: set by the handler when its run is stopped (cancelled, timed out, handed back), checked by
    the work between frames. One per run: the job's temp dir outlives a run that comes back (a retry, a
    hand-back), and the next run must not see the last one's flag.

    The work also stops when the flag's directory (the job's temp dir) is gone: the job has ended.
    """

    flag: str | None = None

    def is_set(self) -> bool:
        if self.flag is None:
            return False
        return os.path.exists(self.flag) or not os.path.isdir(os.path.dirname(self.flag))

    def check(self) -> None:
        if self.is_set():
            raise WorkCancelled(
                "the run was stopped while its work ran (cancelled, timed out or handed back)"
            )

    def set(self) -> None:
        if self.flag is not None:
            with contextlib.suppress(OSError):  # the temp dir is gone already: that stops the work too
                Path(self.flag).touch()


@dataclass(frozen=True, slots=True)
class Tuning:
    """Service-wide knobs the work needs (from the service settings)."""

    sequential_max_s: float = 60.0
    """Videos shorter than this are read in one sequential pass; longer ones by seeking."""
    max_storyboard_tiles: int = 10_000


@dataclass(frozen=True, slots=True)
class Work:
    """One source of a job."""

    source: str
    """The source as submitted (a MEDIA_ROOT-relative path or a task id): used in messages and results."""
    path: str
    """The resolved input file."""
    scratch: str
    """Directory to write into (exists, empty)."""
    rel_dir: str
    """Where the files will end up, relative to MEDIA_ROOT: results name `<rel_dir>/<file>`."""
    token: CancelToken = CancelToken()
    tuning: Tuning = Tuning()

    @property
    def input(self) -> Path:
        return Path(self.path)

    def output(self, name: str) -> Path:
        return Path(self.scratch) / name

    def result_path(self, name: str) -> str:
        return f"{self.rel_dir}/{name}" if self.rel_dir else name
