"""Queue samples over time: the janitor records each queue's numbers every few seconds (with throughput and
the median wait since the last sample) on a capped per-queue list (`keys.queue_samples`); `GET /admin/queues`
shows them.

The job-state scripts feed it: each ending counts in `keys.FINISHED_COUNTS` (per queue, cumulative) and each
start pushes its wait (queued to started) on `keys.queue_waits(queue)` (the last `WAITS_KEPT`), which a
sample consumes."""

from __future__ import annotations

import math
import statistics
from datetime import datetime
from typing import TYPE_CHECKING, cast

from pydantic import BaseModel, ValidationError

from jobcommon import keys
from jobcommon.models import utcnow

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from jobcommon.queue_stats import QueueStats

WAITS_KEPT = 500
"""Most recent waits kept per queue between two samples."""
WAITS_TTL_S = 3600
"""The waits list expires this long after the last start on its queue."""


class QueueSample(BaseModel):
    at: datetime
    length: int
    lag: int
    pending: int
    throughput_per_min: float | None = None
    """Jobs that ended on the queue per minute since the previous sample (null for the first)."""
    wait_p50_s: float | None = None
    """Median wait (queued to started) of the jobs started since the previous sample (null: none started)."""
    finished: int = 0
    """Jobs ended on the queue so far (cumulative; what throughput is computed from)."""


async def record(redis: Redis, stats: QueueStats, *, keep: int, interval_s: float) -> QueueSample:
    """Take one sample of `stats.queue` now (consuming the waits recorded since the last one) and push it on
    the queue's capped list (newest first, `keep` long, expiring after `keep` intervals without a sample)."""
    key = keys.queue_samples(stats.queue)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hget(keys.FINISHED_COUNTS, stats.queue)
        pipe.lrange(keys.queue_waits(stats.queue), 0, -1)
        pipe.delete(keys.queue_waits(stats.queue))
        pipe.lindex(key, 0)
        finished_raw, waits_raw, _deleted, previous_raw = await pipe.execute()
    now = utcnow()
    finished = int(finished_raw or 0)
    throughput: float | None = None
    previous = _parse(previous_raw)
    if previous is not None:
        elapsed = (now - previous.at).total_seconds()
        if elapsed > 0:
            throughput = round(max(0, finished - previous.finished) * 60.0 / elapsed, 3)
    waits = [float(w) for w in cast("list[str]", waits_raw)]
    sample = QueueSample(
        at=now,
        length=stats.length,
        lag=stats.lag,
        pending=stats.pending,
        throughput_per_min=throughput,
        wait_p50_s=round(statistics.median(waits), 3) if waits else None,
        finished=finished,
    )
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lpush(key, sample.model_dump_json())
        pipe.ltrim(key, 0, keep - 1)
        pipe.expire(key, math.ceil(interval_s * (keep + 1)))
        await pipe.execute()
    return sample


async def recent(redis: Redis, queue: str, count: int) -> list[QueueSample]:
    """The queue's last `count` samples, oldest first."""
    raw = cast("list[str]", await redis.lrange(keys.queue_samples(queue), 0, count - 1))
    return [sample for sample in map(_parse, reversed(raw)) if sample is not None]


def _parse(raw: str | None) -> QueueSample | None:
    if not raw:
        return None
    try:
        return QueueSample.model_validate_json(raw)
    except ValidationError:
        return None
