"""The janitor's scheduler: each duty on its own interval, only on the one replica that leads.

The scheduler runs each duty while this replica holds the leader lock (`janitor.leader`) and records its
last report in the hash `keys.JANITOR_REPORT` (field = duty name) that `GET /jobs/health` shows; a failing
duty is reported and tried again at its next interval.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from janitor.duties import (
    DutyFn,
    dead_consumers,
    prune_index,
    queue_stats,
    reclaim,
    retries,
    trim_streams,
)
from janitor.periodic import PeriodicJobs
from janitor.temp_files import temp_files
from jobcommon import keys, utcnow
from jobcommon.cancellation import cancel_and_wait, reraise_if_cancelling

if TYPE_CHECKING:
    from collections.abc import Sequence

    from janitor.duties import Housekeeping
    from janitor.leader import LeaderLock
    from janitor.settings import JanitorSettings

log = logging.getLogger("mediajobs.janitor")


@dataclass(frozen=True, slots=True)
class Duty:
    name: str
    run: DutyFn
    interval_s: float


def default_duties(settings: JanitorSettings) -> list[Duty]:
    """Every duty, with its interval from the settings (`JANITOR_<NAME>_INTERVAL_S`). Raises
    ConfigurationError for a bad SCHEDULES_FILE."""
    return [
        Duty("prune_index", prune_index, settings.janitor_prune_index_interval_s),
        Duty("retries", retries, settings.janitor_retries_interval_s),
        Duty("reclaim", reclaim, settings.janitor_reclaim_interval_s),
        Duty("trim_streams", trim_streams, settings.janitor_trim_streams_interval_s),
        Duty("dead_consumers", dead_consumers, settings.janitor_dead_consumers_interval_s),
        Duty("temp_files", temp_files, settings.janitor_temp_files_interval_s),
        Duty("queue_stats", queue_stats, settings.janitor_queue_stats_interval_s),
        Duty("schedules", PeriodicJobs(settings.schedules_file), settings.janitor_schedules_interval_s),
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
            reraise_if_cancelling(exc)  # a stop landing in this write must end the loop, not be logged
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

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel every duty and wait for them, at most `timeout_s`: a duty that will not end is logged and
        left behind rather than holding up the service's shutdown."""
        stopped = await asyncio.gather(*(cancel_and_wait(task, within_s=timeout_s) for task in self._tasks))
        for task, ended in zip(self._tasks, stopped, strict=True):
            if not ended:
                log.warning(
                    "duty %s did not stop within %g s of its cancellation", task.get_name(), timeout_s
                )
        self._tasks = []
