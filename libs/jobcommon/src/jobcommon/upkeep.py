"""Delivery upkeep every worker runs alongside its handlers: due retries back onto their queues, dead
workers' jobs reclaimed, consumer groups re-created if Redis lost them.

A dead worker's jobs come back two ways: within half a second of its liveness key expiring (its process
died; see `jobcommon.liveness`), checked every `ORPHANS_EVERY_S`; and, as the second line of defence for a
process that lives but is wedged, when its deliveries were not renewed for a whole lease.

Neither takes a live worker's jobs merely because nobody could reach Redis for a while (Redis frozen,
restarted, unreachable; the machine stalled): a lease counts only against a worker whose liveness beats came
without a break for a whole lease (they break when Redis does not hear one for a few intervals), so after an
outage every worker has a whole lease to renew again; and a missing liveness key counts only once Redis has
answered this upkeep promptly for a liveness TTL (and has been up that long), so beacons can beat again first.

Each step is one atomic script, so any number of services (and the janitor) may run it concurrently.

A step that requeued or dead-lettered deliveries leaves a `reclaim <queue>` span (its own trace: the script
reports counts, not jobs) with the counts and why; each requeued job's next attempt span carries a
`lease reclaimed` event in the job's own trace (`jobcommon.job_spans`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from jobcommon import metrics
from jobcommon.broker import ensure_groups
from jobcommon.cancellation import tolerating
from jobcommon.tracing import tracer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from jobcommon.queues import QueueSpec
    from jobcommon.settings import CommonSettings
    from jobcommon.store import JobStore, Requeued

log = logging.getLogger("mediajobs.upkeep")

PROMOTE_EVERY_S = 0.5
ORPHANS_EVERY_S = 0.5
SUSPECT_FOR_BEATS = 2
"""Liveness intervals a consumer's key must stay missing, once seen missing, before it is declared dead."""
GROUPS_EVERY_S = 5.0


class Upkeep:
    def __init__(
        self, store: JobStore, specs: Sequence[QueueSpec], settings: CommonSettings, own_consumer: str = ""
    ) -> None:
        self.store = store
        self.specs = specs
        self.settings = settings
        self.own_consumer = own_consumer
        """The consumer of the process running this upkeep (alive by definition), if it consumes."""
        self._suspects: dict[tuple[str, str], float] = {}
        """(queue, consumer) -> when first seen holding deliveries without a liveness key (monotonic)."""
        self._quiet_until = 0.0
        """No one is declared dead before this (monotonic): a liveness TTL after Redis answered again."""
        self._interrupted = False
        """The last look at Redis failed: the next answer ends an outage."""
        self.totals = {"promoted": 0, "reclaimed": 0, "dead_lettered": 0}

    async def promote(self) -> int:
        moved = 0
        while (batch := await self.store.promote_due()) > 0:
            moved += batch
        self.totals["promoted"] += moved
        return moved

    async def reclaim(self) -> int:
        """Requeue deliveries of dead workers: those whose process died, then those whose lease ran out."""
        found = await self.reclaim_orphans()
        for spec in self.specs:
            while True:
                began = time.time_ns()
                lease = self.settings.lease_s
                outcome = await self.store.reclaim(
                    spec.queue, spec.group, min_idle_s=lease, beating_for_s=lease
                )
                handled = self._count(spec, outcome, "deliveries whose lease ran out", began)
                found += handled
                if handled == 0:
                    break
        return found

    async def reclaim_orphans(self) -> int:
        """Requeue the deliveries of consumers whose liveness key expired (their process died).

        A consumer is declared dead only when its key is still missing `SUSPECT_FOR_BEATS` liveness
        intervals after this upkeep first saw it missing: when the whole machine stalls (a VM paused, a swap
        storm) every key can lapse, and whichever upkeep runs first after the stall must not take the jobs of
        workers whose beacons beat again a moment later. This process's own consumer is never a suspect (it
        lives: it runs this). Skipped while the Redis server itself is younger than a liveness TTL (after a
        restart that lost keys), and for a liveness TTL after Redis failed to answer this upkeep or answered
        it late (frozen, overloaded, unreachable: beacons could not beat either): live workers get one TTL to
        beat again before anyone is declared dead.
        """
        if not await self._steady():
            self._suspects = {}
            return 0
        found = 0
        now = time.monotonic()
        wait_s = SUSPECT_FOR_BEATS * self.settings.liveness_interval_s
        suspects: dict[tuple[str, str], float] = {}
        for spec in self.specs:
            missing = await self.store.orphan_suspects(spec.queue, spec.group) - {self.own_consumer}
            for consumer in missing:
                suspects[spec.queue, consumer] = self._suspects.get((spec.queue, consumer), now)
            dead = [c for c in missing if now - suspects[spec.queue, c] >= wait_s]
            if dead:
                began = time.time_ns()
                outcome = await self.store.reclaim_orphans(spec.queue, spec.group, dead)
                found += self._count(spec, outcome, "deliveries of dead workers", began)
        self._suspects = suspects
        return found

    async def _steady(self) -> bool:
        """Has Redis been up, and answered this upkeep promptly, for a liveness TTL?"""
        began = time.monotonic()
        try:
            uptime = (await self.store.redis.info("server")).get("uptime_in_seconds", 0)
        except (RedisError, OSError):
            self._interrupted = True
            raise
        answered = time.monotonic()
        if self._interrupted or answered - began > self.settings.liveness_interval_s:
            self._interrupted = False
            self._quiet_until = answered + self.settings.liveness_ttl_s
        return float(uptime) >= self.settings.liveness_ttl_s and answered >= self._quiet_until

    def _count(self, spec: QueueSpec, outcome: Requeued, what: str, began_ns: int) -> int:
        if outcome.requeued or outcome.dead:
            log.warning(
                "queue %s: reclaimed %d %s (%d dead-lettered)",
                spec.queue,
                outcome.requeued + outcome.dead,
                what,
                outcome.dead,
            )
            _reclaim_span(spec, outcome, what, began_ns)
        self.totals["reclaimed"] += outcome.requeued
        self.totals["dead_lettered"] += outcome.dead
        metrics.RECLAIMS.labels(spec.queue).inc(outcome.requeued)
        metrics.DEAD_LETTERS.labels("WorkerLost").inc(outcome.dead)
        return outcome.requeued + outcome.dead + outcome.dropped

    async def run_forever(self) -> None:
        last_reclaim = last_orphans = last_groups = time.monotonic()
        while True:
            await asyncio.sleep(PROMOTE_EVERY_S)
            with tolerating(RedisError, OSError):
                await self.promote()
                now = time.monotonic()
                if now - last_orphans >= ORPHANS_EVERY_S:
                    last_orphans = now
                    await self.reclaim_orphans()
                if now - last_reclaim >= self.settings.lease_s / 3:
                    last_reclaim = now
                    await self.reclaim()
                if now - last_groups >= GROUPS_EVERY_S:
                    last_groups = now
                    await ensure_groups(self.store.redis, self.specs)


def _reclaim_span(spec: QueueSpec, outcome: Requeued, what: str, began_ns: int) -> None:
    span = tracer.start_span(
        f"reclaim {spec.queue}",
        start_time=began_ns,
        attributes={
            "messaging.system": "redis",
            "messaging.destination.name": spec.stream,
            "messaging.consumer.group.name": spec.group,
            "mediajobs.reclaim.what": what,
            "mediajobs.reclaim.requeued": outcome.requeued,
            "mediajobs.reclaim.dead_lettered": outcome.dead,
        },
    )
    if outcome.dead:
        span.add_event("dead-lettered", {"mediajobs.reason": "WorkerLost", "mediajobs.jobs": outcome.dead})
    span.end()
