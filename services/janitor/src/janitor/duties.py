"""The janitor's periodic duties on Redis, and the `Housekeeping` every duty works with.

Each duty is a small `async def duty(hk: Housekeeping) -> dict` returning a JSON-able account of what it did,
logging one INFO line when it changed something; `janitor.scheduler` runs them (and `janitor.temp_files`,
the duty on MEDIA_ROOT). Every duty is safe to run concurrently with services and with a former leader that
has not noticed yet that it lost the lock: each change is atomic or re-checked where it is made.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from jobcommon import JOB_TYPES, keys, utcnow
from jobcommon.broker import ensure_groups
from jobcommon.presence import live_services
from jobcommon.queue_samples import record as record_queue_sample
from jobcommon.queue_stats import all_queue_stats
from jobcommon.upkeep import Upkeep

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

    from janitor.settings import JanitorSettings
    from jobcommon.store import JobStore

log = logging.getLogger("mediajobs.janitor")

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

    def __init__(self, store: JobStore, settings: JanitorSettings, own_consumer: str = "") -> None:
        self.store = store
        self.redis: Redis = store.redis
        self.settings = settings
        # plugins' queues too; never reclaiming this janitor's own deliveries (it lives: it runs this)
        self.upkeep = Upkeep(store, JOB_TYPES.queues(), settings, own_consumer=own_consumer)
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
    """Delete acknowledged leftovers from every queue's streams (each lane), and dead letters older than the
    result TTL."""
    deleted: dict[str, int] = {}
    for spec in JOB_TYPES.queues():
        deleted[str(spec.queue)] = sum([await _trim_acknowledged(hk, lane) for lane in spec.lanes.values()])
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
    for spec in JOB_TYPES.queues():
        for stream in spec.lanes.values():
            if not await hk.redis.exists(stream):
                continue
            if spec.group not in {str(g["name"]) for g in await hk.redis.xinfo_groups(stream)}:
                continue
            for consumer in await hk.redis.xinfo_consumers(stream, spec.group):
                name = str(consumer["name"])
                if name in live or int(consumer["idle"]) <= min_idle_ms:
                    continue
                if int(consumer["pending"]) > 0:
                    busy += 1
                    continue
                gone = int(await hk.delete_idle_consumer(keys=[stream], args=[spec.group, name]))
                if gone < 0:  # took a delivery since XINFO CONSUMERS
                    busy += 1
                else:
                    removed.append(f"{stream.removeprefix(keys.STREAM_PREFIX)}/{name}")
    if removed:
        log.info("dead_consumers: removed %d consumers of stopped workers: %s", len(removed), removed)
    return {"removed": removed, "left_with_pending": busy}


async def queue_stats(hk: Housekeeping) -> dict[str, Any]:
    """Record a sample of every queue's depth on a capped list (newest first) for queue depth over time, and
    each queue's own sample (with throughput and median wait since the last one) on its capped list."""
    stats = await all_queue_stats(hk.redis)
    queues = {
        s.queue: {"length": s.length, "pending": s.pending, "lag": s.lag, "workers": s.workers} for s in stats
    }
    for one in stats:
        await record_queue_sample(
            hk.redis,
            one,
            keep=hk.settings.janitor_queue_samples_per_queue,
            interval_s=hk.settings.janitor_queue_stats_interval_s,
        )
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
