"""Per-queue numbers for health, listings and metrics: waiting, pending, consumers, lag, oldest wait."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from jobcommon import keys
from jobcommon.job_types import JOB_TYPES
from jobcommon.presence import live_services
from jobcommon.queues import QueueSpec
from jobcommon.scripts import lua_source

if TYPE_CHECKING:
    from redis.asyncio import Redis

LAG_COUNT_LIMIT = 10_000


class QueueStats(BaseModel):
    queue: str
    stream: str
    group: str
    length: int
    """Entries in the queue's streams (waiting or being worked on; finished jobs' entries are deleted)."""
    pending: int
    """Delivered to a consumer and not yet acknowledged (being worked on)."""
    lag: int
    """Entries not yet delivered to any consumer (capped at 10,000 a lane on Redis < 7)."""
    lag_by_priority: dict[str, int] = {}
    """`lag` by lane: how many wait at each priority (`jobcommon.priorities`)."""
    consumers: int
    """Workers in the queue's consumer group (on any of its lanes) whose process still proves it lives (their
    liveness key, `jobcommon.liveness`). A worker joins every lane as it starts reading
    (`jobcommon.steady_reads`) and leaves on a graceful stop; a killed one no longer counts once its liveness
    key expires (`LIVENESS_TTL_S`), although Redis keeps it in the group until the janitor removes it."""
    workers: int = 0
    """Live service instances consuming this queue (from their heartbeats)."""
    oldest_waiting_s: float = 0.0
    """Age of the oldest entry not yet delivered (by its stream id's time; 0 when none waits)."""


async def stats_for(redis: Redis, spec: QueueSpec) -> QueueStats:
    """The queue's numbers, summed over its lanes (with each lane's waiting count in `lag_by_priority`)."""
    lanes = {priority: await _lane_stats(redis, spec, stream) for priority, stream in spec.lanes.items()}
    return QueueStats(
        queue=spec.queue,
        stream=spec.stream,
        group=spec.group,
        length=sum(lane.length for lane in lanes.values()),
        pending=sum(lane.pending for lane in lanes.values()),
        lag=sum(lane.lag for lane in lanes.values()),
        lag_by_priority={priority.value: lane.lag for priority, lane in lanes.items()},
        consumers=await _live_count(redis, set().union(*(lane.consumers for lane in lanes.values()))),
        oldest_waiting_s=max(lane.oldest_waiting_s for lane in lanes.values()),
    )


@dataclass(frozen=True, slots=True)
class _Lane:
    length: int
    pending: int
    lag: int
    consumers: frozenset[str]
    """The group's consumers on this lane, by name."""
    oldest_waiting_s: float


async def _lane_stats(redis: Redis, spec: QueueSpec, stream: str) -> _Lane:
    length = await redis.xlen(stream)
    groups = await redis.xinfo_groups(stream) if length or await redis.exists(stream) else []
    group = next((g for g in groups if g["name"] == spec.group), None)
    pending = lag = 0
    consumers: frozenset[str] = frozenset()
    after = ""
    if group is not None:
        after = str(group["last-delivered-id"])
        pending = int(group["pending"])
        if int(group["consumers"]):
            consumers = frozenset(_text(c["name"]) for c in await redis.xinfo_consumers(stream, spec.group))
        if group.get("lag") is not None:
            lag = int(group["lag"])
        else:  # Redis 6.2 has no lag field: count entries after the last delivered id
            count_after = redis.register_script(lua_source("count_after"))
            lag = int(await count_after(keys=[stream], args=[after, LAG_COUNT_LIMIT]))
    elif length:
        lag = length
    return _Lane(
        length, pending, lag, consumers, await _oldest_waiting_s(redis, stream, after) if lag else 0.0
    )


async def _live_count(redis: Redis, consumers: set[str]) -> int:
    """How many of `consumers` still prove their process lives (one EXISTS over their liveness keys)."""
    if not consumers:
        return 0
    return int(await redis.exists(*(keys.alive(name) for name in sorted(consumers))))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _oldest_waiting_s(redis: Redis, stream: str, after: str) -> float:
    """Age of the first entry after the id `after` ("": the stream's first), from its id's milliseconds."""
    first_id_after = redis.register_script(lua_source("first_id_after"))
    first = await first_id_after(keys=[stream], args=[after])
    if not first:
        return 0.0
    millis = int(str(first).split("-", 1)[0])
    return max(0.0, time.time() - millis / 1000)


async def all_queue_stats(redis: Redis) -> list[QueueStats]:
    services = await live_services(redis)
    stats = []
    for spec in JOB_TYPES.queues():
        workers = sum(1 for s in services if s.get("queue") == spec.queue)
        stats.append((await stats_for(redis, spec)).model_copy(update={"workers": workers}))
    return stats
