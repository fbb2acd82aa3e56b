"""The janitor's periodic duties, and the scheduler that runs them on the one replica that leads.

Each duty is a small `async def duty(hk: Housekeeping) -> dict` returning a JSON-able account of what it did,
logging one INFO line when it changed something. The scheduler runs each on its own interval while this
replica holds the leader lock and records its last report in the hash `keys.JANITOR_REPORT` (field = duty
name) that `GET /jobs/health` shows. Every duty is safe to run concurrently with services and with a former
leader that has not noticed yet that it lost the lock: each change is atomic or re-checked where it is made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import shutil
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from jobcommon import QUEUES, JobStatus, keys
from jobcommon.broker import ensure_groups
from jobcommon.cancellation import reraise_if_cancelling
from jobcommon.models import utcnow
from jobcommon.presence import live_services
from jobcommon.queue_stats import all_queue_stats
from jobcommon.upkeep import Upkeep

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

    from janitor.leader import LeaderLock
    from janitor.settings import JanitorSettings
    from jobcommon.store import JobStore

log = logging.getLogger("mediajobs.janitor")

SCRATCH_DIR = ".tmp"
"""MEDIA_ROOT/.tmp/<task_id>/ is one job's scratch directory."""
PARTIAL_SUFFIXES = (".part", ".ytdl")
"""Partial downloads (yt-dlp's `.part`, its resume state `.ytdl`; fragments are `*.part-Frag<n>`)."""
ACTIVE = frozenset({JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.RETRYING.value})
"""Statuses of a job that may still use its files."""
TRIM_BATCH = 1000
TRIM_MAX_BATCHES = 100
"""At most this many batches per stream and run; the rest waits for the next run."""

DELETE_IDLE_CONSUMER_LUA = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
"""
"""Delete a consumer only if it holds no pending entry (DELCONSUMER would drop them from the group)."""

ENTRY_IDS_LUA = """
local ids = {}
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
for i, entry in ipairs(entries) do ids[i] = entry[1] end
return ids
"""
"""XRANGE returning ids only: message bodies may be binary (FastStream's format) and must not be decoded."""


class Housekeeping:
    """What the duties work with: Redis, the job store, delivery upkeep over every queue, the settings."""

    def __init__(self, store: JobStore, settings: JanitorSettings) -> None:
        self.store = store
        self.redis: Redis = store.redis
        self.settings = settings
        self.upkeep = Upkeep(store, list(QUEUES.values()), settings)
        self.delete_idle_consumer: AsyncScript = self.redis.register_script(DELETE_IDLE_CONSUMER_LUA)
        self.entry_ids: AsyncScript = self.redis.register_script(ENTRY_IDS_LUA)


DutyFn = Callable[[Housekeeping], Awaitable[dict[str, Any]]]


# -- the duties ----------------------------------------------------------------------------------------


async def prune_index(hk: Housekeeping) -> dict[str, Any]:
    """Drop listing-index entries whose job record has expired."""
    removed = await hk.store.prune_index()
    if removed:
        log.info("prune_index: dropped %d index entries of expired jobs", removed)
    return {"removed": removed}


async def retries(hk: Housekeeping) -> dict[str, Any]:
    """Put retries whose time has come back on their queues (every queue)."""
    promoted = await hk.upkeep.promote()
    if promoted:
        log.info("retries: %d due retries back on their queues", promoted)
    return {"promoted": promoted}


async def reclaim(hk: Housekeeping) -> dict[str, Any]:
    """Requeue (or dead-letter) deliveries of dead workers on every queue, also those with no live service."""
    await ensure_groups(hk.redis, hk.upkeep.specs)  # as the gateway does; XAUTOCLAIM needs the group
    before = dict(hk.upkeep.totals)
    handled = await hk.upkeep.reclaim()
    requeued = hk.upkeep.totals["reclaimed"] - before["reclaimed"]
    dead = hk.upkeep.totals["dead_lettered"] - before["dead_lettered"]
    if handled:
        log.info(
            "reclaim: %d stale deliveries handled (%d requeued, %d dead-lettered)", handled, requeued, dead
        )
    return {"handled": handled, "requeued": requeued, "dead_lettered": dead}


def _id_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def _pending_between(redis: Redis, stream: str, group: str, first: str, last: str) -> set[str]:
    """Ids pending in `group` between `first` and `last` (inclusive), every page of them."""
    found: set[str] = set()
    low = first
    while True:
        page = await redis.xpending_range(stream, group, low, last, TRIM_BATCH)
        found.update(str(p["message_id"]) for p in page)
        if len(page) < TRIM_BATCH:
            return found
        low = "(" + str(page[-1]["message_id"])


async def _trim_acknowledged(hk: Housekeeping, stream: str) -> int:
    """XDEL entries every group has had delivered and none still has pending; never an undelivered one."""
    redis = hk.redis
    if not await redis.exists(stream):
        return 0
    groups = await redis.xinfo_groups(stream)
    if not groups:
        return 0
    delivered = min((str(g["last-delivered-id"]) for g in groups), key=_id_order)
    if _id_order(delivered) == (0, 0):
        return 0
    names = [str(g["name"]) for g in groups]
    deleted = 0
    low = "-"
    for _ in range(TRIM_MAX_BATCHES):
        ids = [str(i) for i in await hk.entry_ids(keys=[stream], args=[low, delivered, TRIM_BATCH])]
        if not ids:
            break
        pending: set[str] = set()
        for name in names:
            pending |= await _pending_between(redis, stream, name, ids[0], ids[-1])
        # An entry delivered before XINFO GROUPS and not pending now was acknowledged: it cannot become
        # pending again (XCLAIM only moves pending entries), so deleting it cannot lose work.
        done = [entry_id for entry_id in ids if entry_id not in pending]
        if done:
            deleted += int(await redis.xdel(stream, *done))
        if len(ids) < TRIM_BATCH:
            break
        low = "(" + ids[-1]
    return deleted


async def trim_streams(hk: Housekeeping) -> dict[str, Any]:
    """Delete acknowledged leftovers from every queue stream, and dead letters older than the result TTL."""
    deleted: dict[str, int] = {}
    for spec in QUEUES.values():
        deleted[spec.queue.value] = await _trim_acknowledged(hk, spec.stream)
    cutoff_ms = max(0, int((time.time() - hk.settings.result_ttl_s) * 1000))
    dead = int(await hk.redis.xtrim(keys.DEAD_LETTERS, minid=f"{cutoff_ms}-0", approximate=False))
    if any(deleted.values()) or dead:
        log.info(
            "trim_streams: deleted %d acknowledged stream entries (%s), %d expired dead letters",
            sum(deleted.values()),
            ", ".join(f"{q} {n}" for q, n in deleted.items() if n),
            dead,
        )
    return {"deleted": deleted, "dead_letters_trimmed": dead}


async def dead_consumers(hk: Housekeeping) -> dict[str, Any]:
    """Remove consumers of stopped workers: nothing pending, no live heartbeat, idle longer than the lease.

    Consumers with pending entries stay: reclaim hands those entries back first.
    """
    live = {str(s["consumer"]) for s in await live_services(hk.redis) if s.get("consumer")}
    min_idle_ms = hk.settings.lease_s * 1000
    removed: list[str] = []
    busy = 0
    for spec in QUEUES.values():
        if not await hk.redis.exists(spec.stream):
            continue
        if spec.group not in {str(g["name"]) for g in await hk.redis.xinfo_groups(spec.stream)}:
            continue
        for consumer in await hk.redis.xinfo_consumers(spec.stream, spec.group):
            name = str(consumer["name"])
            if name in live or int(consumer["idle"]) <= min_idle_ms:
                continue
            if int(consumer["pending"]) > 0:
                busy += 1
                continue
            gone = int(await hk.delete_idle_consumer(keys=[spec.stream], args=[spec.group, name]))
            if gone < 0:  # took a delivery since XINFO CONSUMERS
                busy += 1
            else:
                removed.append(f"{spec.queue.value}/{name}")
    if removed:
        log.info("dead_consumers: removed %d consumers of stopped workers: %s", len(removed), removed)
    return {"removed": removed, "left_with_pending": busy}


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


def _remove(dirs: Iterable[tuple[Path, int]], files: Iterable[tuple[Path, int]]) -> _Removed:
    """Remove what was found stale (blocking: run it in a thread)."""
    done = _Removed()
    for path, size in dirs:
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("temp_files: could not remove %s: %s", path, exc)
            done.failed += 1
        else:
            done.dirs += 1
            done.bytes += size
    for path, size in files:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("temp_files: could not remove %s: %s", path, exc)
            done.failed += 1
        else:
            done.files += 1
            done.bytes += size
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


async def queue_stats(hk: Housekeeping) -> dict[str, Any]:
    """Record a sample of every queue's depth on a capped list (newest first) for queue depth over time."""
    queues = {
        s.queue: {"length": s.length, "pending": s.pending, "lag": s.lag, "workers": s.workers}
        for s in await all_queue_stats(hk.redis)
    }
    sample = json.dumps({"at": utcnow().isoformat(), "queues": queues}, separators=(",", ":"))
    keep = hk.settings.janitor_queue_samples
    interval = hk.settings.janitor_queue_stats_interval_s
    async with hk.redis.pipeline(transaction=True) as pipe:
        pipe.lpush(keys.JANITOR_QUEUE_SAMPLES, sample)
        pipe.ltrim(keys.JANITOR_QUEUE_SAMPLES, 0, keep - 1)
        pipe.expire(keys.JANITOR_QUEUE_SAMPLES, math.ceil(interval * (keep + 1)))
        pipe.llen(keys.JANITOR_QUEUE_SAMPLES)
        replies: list[Any] = await pipe.execute()
    log.debug("queue_stats: sample %s", sample)  # routine bookkeeping, not a change worth an INFO line
    return {"samples": int(replies[-1]), "queues": queues}


# -- scheduling ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Duty:
    name: str
    run: DutyFn
    interval_s: float


def default_duties(settings: JanitorSettings) -> list[Duty]:
    """Every duty, with its interval from the settings (`JANITOR_<NAME>_INTERVAL_S`)."""
    return [
        Duty("prune_index", prune_index, settings.janitor_prune_index_interval_s),
        Duty("retries", retries, settings.janitor_retries_interval_s),
        Duty("reclaim", reclaim, settings.janitor_reclaim_interval_s),
        Duty("trim_streams", trim_streams, settings.janitor_trim_streams_interval_s),
        Duty("dead_consumers", dead_consumers, settings.janitor_dead_consumers_interval_s),
        Duty("temp_files", temp_files, settings.janitor_temp_files_interval_s),
        Duty("queue_stats", queue_stats, settings.janitor_queue_stats_interval_s),
    ]


class DutyScheduler:
    """Runs each duty on its own interval, only while `lock` says this replica leads."""

    def __init__(self, hk: Housekeeping, lock: LeaderLock, duties: Sequence[Duty]) -> None:
        self.hk = hk
        self.lock = lock
        self.duties = list(duties)
        self.reports: dict[str, dict[str, Any]] = {}
        longest = max((d.interval_s for d in self.duties), default=0.0)
        self.report_ttl_s = max(hk.settings.janitor_report_ttl_s, math.ceil(2 * longest))
        """The reports hash outlives the longest interval, so a slow duty's report never vanishes."""
        self._tasks: list[asyncio.Task[None]] = []

    async def run_once(self, duty: Duty) -> dict[str, Any]:
        """Run one duty now and record its report (also when it failed)."""
        at = utcnow()
        started = time.perf_counter()
        result: dict[str, Any] = {}
        error: str | None = None
        try:
            result = await duty.run(self.hk)
        except Exception as exc:  # a failing duty is reported and tried again next interval
            reraise_if_cancelling(exc)
            error = f"{type(exc).__name__}: {exc}"
            log.warning("%s failed: %s", duty.name, error)
        report = {
            "at": at.isoformat(),
            "took_ms": round((time.perf_counter() - started) * 1000, 3),
            "result": result,
            "error": error,
        }
        self.reports[duty.name] = report
        try:
            async with self.hk.redis.pipeline(transaction=True) as pipe:
                pipe.hset(keys.JANITOR_REPORT, duty.name, json.dumps(report, default=str))
                pipe.expire(keys.JANITOR_REPORT, self.report_ttl_s)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.debug("could not record the %s report: %s", duty.name, exc)
        return report

    async def _every(self, duty: Duty) -> None:
        while True:
            await self.lock.wait_until_leader()
            await self.run_once(duty)
            await asyncio.sleep(duty.interval_s)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._every(duty), name=f"janitor:{duty.name}") for duty in self.duties
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
