"""The `temp_files` duty: scratch directories and partial downloads that nothing will use any more.

A job's scratch dir is MEDIA_ROOT/.tmp/<task_id>/; a partial download is a yt-dlp ``.part``/``.ytdl`` file
(fragments: ``*.part-Frag<n>``) wherever it lies. Both go once they have been untouched for
``JANITOR_TEMP_MAX_AGE_S`` and their job is no longer queued, running or retrying (a job whose record
expired is not active either). Finished outputs (MEDIA_ROOT/<id>/media.*) are never touched: they belong to
the user. The file system is walked and changed in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobcommon import JobStatus, keys
from jobcommon.media_dirs import SCRATCH_DIR

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from redis.asyncio import Redis

    from janitor.duties import Housekeeping

log = logging.getLogger("mediajobs.janitor")

PARTIAL_SUFFIXES = (".part", ".ytdl")
"""Partial downloads (yt-dlp's `.part`, its resume state `.ytdl`; fragments are `*.part-Frag<n>`)."""
ACTIVE = frozenset(
    {JobStatus.SCHEDULED.value, JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.RETRYING.value}
)
"""Statuses of a job that may still use its files."""


@dataclass(slots=True)
class _Stale:
    dirs: dict[str, tuple[Path, int]]
    """task id -> (its scratch dir, bytes in it)"""
    files: list[tuple[str | None, Path, int]]
    """(task id owning it or None, partial file, bytes)"""


def _is_partial(name: str) -> bool:
    return name.endswith(PARTIAL_SUFFIXES) or ".part-Frag" in name


def _owner(relative: tuple[str, ...]) -> str | None:
    """The task id a directory under MEDIA_ROOT belongs to: <id>/... or .tmp/<id>/..."""
    if relative[:1] == (SCRATCH_DIR,):
        return relative[1] if len(relative) > 1 else None
    return relative[0] if relative else None


def _newest_and_size(root: Path) -> tuple[float, int]:
    """The latest mtime of a directory or anything in it, and the bytes of its files (no symlinks)."""
    newest = root.lstat().st_mtime
    size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            try:
                info = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            newest = max(newest, info.st_mtime)
            if stat.S_ISREG(info.st_mode):
                size += info.st_size
    return newest, size


def _find_stale(media_root: Path, max_age_s: float) -> _Stale:
    """Scratch dirs and partial files untouched for `max_age_s` (blocking: run it in a thread)."""
    found = _Stale({}, [])
    if not media_root.is_dir():
        return found
    cutoff = time.time() - max_age_s
    scratch = media_root / SCRATCH_DIR
    if scratch.is_dir():
        with os.scandir(scratch) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    newest, size = _newest_and_size(Path(entry.path))
                    if newest < cutoff:
                        found.dirs[entry.name] = (Path(entry.path), size)
    for dirpath, dirnames, filenames in os.walk(media_root):
        relative = Path(dirpath).relative_to(media_root).parts
        if relative == (SCRATCH_DIR,):
            dirnames[:] = [d for d in dirnames if d not in found.dirs]
        for name in filenames:
            if not _is_partial(name):
                continue
            path = Path(dirpath, name)
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                found.files.append((_owner(relative), path, info.st_size))
    return found


@dataclass(slots=True)
class _Removed:
    dirs: int = 0
    files: int = 0
    bytes: int = 0
    failed: int = 0

    def count(self, ok: bool, size: int, *, directory: bool) -> None:
        if not ok:
            self.failed += 1
            return
        self.bytes += size
        if directory:
            self.dirs += 1
        else:
            self.files += 1


def _removed(path: Path, remove: Callable[[Path], object]) -> bool | None:
    """`remove(path)`: True if done, False if it failed (logged), None if it was gone already."""
    try:
        remove(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("temp_files: could not remove %s: %s", path, exc)
        return False
    return True


def _remove(dirs: Iterable[tuple[Path, int]], files: Iterable[tuple[Path, int]]) -> _Removed:
    """Remove what was found stale (blocking: run it in a thread)."""
    done = _Removed()
    for path, size in dirs:
        if (ok := _removed(path, shutil.rmtree)) is not None:
            done.count(ok, size, directory=True)
    for path, size in files:
        if (ok := _removed(path, Path.unlink)) is not None:
            done.count(ok, size, directory=False)
    return done


async def _active_jobs(redis: Redis, task_ids: Iterable[str]) -> set[str]:
    """Those of `task_ids` whose job is queued, running or retrying (a gone record is not active)."""
    ids = sorted(task_ids)
    if not ids:
        return set()
    async with redis.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.hget(keys.job(task_id), "status")
        statuses: list[str | None] = await pipe.execute()
    return {task_id for task_id, status in zip(ids, statuses, strict=True) if status in ACTIVE}


async def temp_files(hk: Housekeeping) -> dict[str, Any]:
    """Remove old scratch dirs (MEDIA_ROOT/.tmp/<id>) and partial downloads of jobs no longer active.

    Finished outputs (MEDIA_ROOT/<id>/media.*) are never touched: they belong to the user.
    """
    found = await asyncio.to_thread(_find_stale, hk.settings.media_root, hk.settings.janitor_temp_max_age_s)
    owners = set(found.dirs) | {owner for owner, _path, _size in found.files if owner is not None}
    active = await _active_jobs(hk.redis, owners)
    dirs = [(path, size) for task_id, (path, size) in found.dirs.items() if task_id not in active]
    files = [(path, size) for owner, path, size in found.files if owner is None or owner not in active]
    kept = len(found.dirs) + len(found.files) - len(dirs) - len(files)
    done = await asyncio.to_thread(_remove, dirs, files)
    if done.dirs or done.files:
        log.info(
            "temp_files: removed %d stale scratch dirs and %d partial files (%d bytes) of inactive jobs",
            done.dirs,
            done.files,
            done.bytes,
        )
    return {
        "scratch_dirs_removed": done.dirs,
        "partial_files_removed": done.files,
        "bytes_freed": done.bytes,
        "kept_for_active_jobs": kept,
        "failed": done.failed,
    }
