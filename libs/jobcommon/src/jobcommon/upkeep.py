"""Delivery upkeep every worker runs alongside its handlers: due retries back onto their queues, dead
workers' jobs reclaimed, consumer groups re-created if Redis lost them.

Each step is one atomic script, so any number of services (and the janitor) may run it concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from jobcommon.broker import ensure_groups
from jobcommon.cancellation import tolerating

if TYPE_CHECKING:
    from collections.abc import Sequence

    from jobcommon.queues import QueueSpec
    from jobcommon.settings import CommonSettings
    from jobcommon.store import JobStore

log = logging.getLogger("mediajobs.upkeep")

PROMOTE_EVERY_S = 0.5
GROUPS_EVERY_S = 5.0


class Upkeep:
    def __init__(self, store: JobStore, specs: Sequence[QueueSpec], settings: CommonSettings) -> None:
        self.store = store
        self.specs = specs
        self.settings = settings
        self.totals = {"promoted": 0, "reclaimed": 0, "dead_lettered": 0}

    async def promote(self) -> int:
        moved = 0
        while (batch := await self.store.promote_due()) > 0:
            moved += batch
        self.totals["promoted"] += moved
        return moved

    async def reclaim(self) -> int:
        found = 0
        for spec in self.specs:
            while True:
                outcome = await self.store.reclaim(spec.queue, spec.group, min_idle_s=self.settings.lease_s)
                handled = outcome.requeued + outcome.dead + outcome.dropped
                if outcome.requeued or outcome.dead:
                    log.warning(
                        "queue %s: reclaimed %d deliveries of dead workers (%d dead-lettered)",
                        spec.queue,
                        outcome.requeued + outcome.dead,
                        outcome.dead,
                    )
                self.totals["reclaimed"] += outcome.requeued
                self.totals["dead_lettered"] += outcome.dead
                found += handled
                if handled == 0:
                    break
        return found

    async def run_forever(self) -> None:
        last_reclaim = last_groups = time.monotonic()
        while True:
            await asyncio.sleep(PROMOTE_EVERY_S)
            with tolerating(RedisError, OSError):
                await self.promote()
                now = time.monotonic()
                if now - last_reclaim >= self.settings.lease_s / 3:
                    last_reclaim = now
                    await self.reclaim()
                if now - last_groups >= GROUPS_EVERY_S:
                    last_groups = now
                    await ensure_groups(self.store.redis, self.specs)
