"""Input files of jobs: a path relative to MEDIA_ROOT, or the task id of a finished job whose output to use.

Shared by every service that reads media, so none of them can be talked into reading outside MEDIA_ROOT.
"""

from __future__ import annotations

import asyncio
import contextlib
import stat
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from jobcommon.errors import JobNotFound, PermanentError
from jobcommon.media_dirs import SCRATCH_DIR
from jobcommon.models import JobStatus
from jobcommon.requests.base import TASK_ID

if TYPE_CHECKING:
    from collections.abc import Iterator

    from jobcommon.models import Job
    from jobcommon.store import JobStore


class SourceError(PermanentError):
    """The named input cannot be used: missing, outside MEDIA_ROOT, or a job without an output file."""


async def source_job(store: JobStore, task_id: str, owner: str | None) -> Job:
    """The job `task_id` as a source of a job of `owner`: another owner's job is, as in the API, unknown (a
    job without owner, submitted by a trusted component, may use any); raises SourceError."""
    job = await _unless_anothers(store, task_id, owner)
    if job is None:
        raise SourceError(f"source job {task_id} is unknown or expired")
    return job


async def _unless_anothers(store: JobStore, task_id: str, owner: str | None) -> Job | None:
    """The job `task_id` (None if its record is gone); SourceError, as if unknown, if it is another owner's
    than `owner` (None: a trusted component's job, which may use any)."""
    try:
        job = await store.get(task_id)
    except JobNotFound:
        return None
    if owner is not None and job.owner != owner:
        raise SourceError(f"source job {task_id} is unknown or expired")
    return job


async def resolve_source(store: JobStore, media_root: Path, source: str, owner: str | None) -> Path:
    """The absolute path of an input file under MEDIA_ROOT, for a job of `owner`; raises SourceError.

    A job's output dir (`<task id>/...`) is its owner's while the job's record lives, whichever way the
    source names it (its task id, a path, a path through `./` or a symlink: the resolved path counts); once
    the record has expired, its files are the library's like any other. Jobs' scratch (`.tmp/`) is no
    source."""
    relative = source
    if TASK_ID.match(source):
        job = await source_job(store, source, owner)
        if job.status != JobStatus.SUCCEEDED or not job.result or not isinstance(job.result.get("path"), str):
            raise SourceError(f"source job {source} is {job.status.value} and has no output file")
        relative = job.result["path"]
    # resolve() touches the disk; whether the file exists is said only after the owner check (another owner
    # must not learn what a job's dir holds)
    path, first = await asyncio.to_thread(_resolved_as_stored, media_root, relative)
    if first == SCRATCH_DIR:
        raise SourceError(f"source {_shown(relative)} does not exist")  # work in progress, whoever's
    if owner is not None and TASK_ID.match(first.lower()):
        await _unless_anothers(store, first.lower(), owner)  # a record expired: the files are the library's
    await asyncio.to_thread(_existing_file, path, relative)
    return path


def _resolved_as_stored(media_root: Path, relative: str) -> tuple[Path, str]:
    """`_resolved`, of the first of the path's Unicode forms (as given, NFC, NFD) that names something on
    disk: a macOS client sends "é" decomposed (NFD) where Linux stored the file composed (NFC), or the
    reverse; the two look the same and name different files here. The path as given when none does."""
    given = _resolved(media_root, relative)
    with _unusable(relative):
        if given[0].exists():
            return given
        for form in ("NFC", "NFD"):
            other = unicodedata.normalize(form, relative)
            if other != relative and (found := _resolved(media_root, other))[0].exists():
                return found
    return given


def _resolved(media_root: Path, relative: str) -> tuple[Path, str]:
    """`media_root / relative` resolved (symlinks followed), and its first part under MEDIA_ROOT; refuses
    anything (`..`, absolute paths, symlinks) that leaves MEDIA_ROOT."""
    root = media_root.resolve()
    with _unusable(relative):
        path = (root / relative).resolve()
    if not path.is_relative_to(root) or path == root:
        raise SourceError(f"source {_shown(relative)} is outside MEDIA_ROOT")
    return path, path.relative_to(root).parts[0]


def _existing_file(path: Path, relative: str) -> None:
    """A regular file at `path`: not missing, not a directory, nor a FIFO, socket or device (one stat, which
    never opens the file: reading a FIFO would block until something writes into it)."""
    with _unusable(relative):
        try:
            mode = path.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):  # also a dangling symlink, a path through a file
            raise SourceError(f"source {_shown(relative)} does not exist") from None
    if stat.S_ISDIR(mode):
        raise SourceError(f"source {_shown(relative)} is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise SourceError(f"source {_shown(relative)} is not a regular file (it is {_special(mode)})")


def _special(mode: int) -> str:
    """What a file that is neither regular nor a directory is, in words."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


@contextlib.contextmanager
def _unusable(relative: str) -> Iterator[None]:
    """An error looking the source up (a name too long, a symlink loop, no permission, an I/O error, a name
    no file can have) is a permanent SourceError naming the source as given, never the absolute path:
    `Path.resolve()` and `is_dir()` raise OSError (RuntimeError for a loop on Python 3.11, ValueError for a
    NUL byte) where the answer is not plainly "missing"."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SourceError(f"source {_shown(relative)} cannot be looked up: {reason}") from None
    except RuntimeError:  # pathlib's "Symlink loop from '/abs/path'"
        raise SourceError(f"source {_shown(relative)} cannot be looked up: a symlink loop") from None
    except ValueError:  # a NUL byte or a lone surrogate: no file can have that name
        raise SourceError(f"source {_shown(relative)} cannot be looked up: not a valid file name") from None


MAX_SHOWN = 200
"""A source named in an error is cut to this many characters (a path may be 4096 bytes long)."""


def _shown(relative: str) -> str:
    """The source as the caller gave it (its path under MEDIA_ROOT), quoted, cut if very long."""
    return repr(relative if len(relative) <= MAX_SHOWN else relative[:MAX_SHOWN] + "…")
