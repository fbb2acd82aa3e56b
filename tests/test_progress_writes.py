"""A handler's progress report never waits for Redis: the write runs beside the handler, one at a time, and
the latest update always lands (a write awaited by the handler held it for a whole Redis freeze)."""

from __future__ import annotations

import asyncio
from typing import cast

from jobcommon.models import Progress
from jobcommon.progress import ProgressReporter
from jobcommon.store import JobStore, Transition


class GatedStore:
    """A job store whose progress writes wait until `gate` opens (Redis frozen), recording what lands."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = 0
        self.stored: list[str] = []

    async def report_progress(self, task_id: str, progress: Progress, run_id: str = "") -> Transition:
        self.started += 1
        await self.gate.wait()
        self.stored.append(progress.message)
        return Transition(applied=True, job=None, status=None)


async def _until(condition: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not callable(condition) or not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never met"
        await asyncio.sleep(0.01)


async def test_an_update_returns_while_its_write_waits_on_redis() -> None:
    store = GatedStore()
    reporter = ProgressReporter(cast("JobStore", store), "job-1", interval=0.05, run_id="run-1")
    await asyncio.wait_for(reporter.update(10, "first"), 1.0)  # the old code awaited the write here: forever
    await _until(lambda: store.started == 1)
    for i in range(50):  # the handler goes on reporting while the write hangs: no pile of writers
        await asyncio.wait_for(reporter.update(20 + i, f"later {i}"), 1.0)
    await asyncio.sleep(0.2)
    assert store.started == 1
    store.gate.set()  # Redis is back: the write in flight lands, then the latest, without a flush
    await _until(lambda: store.stored == ["first", "later 49"])
    await reporter.flush()
    assert store.stored == ["first", "later 49"]  # nothing newer was held: the flush wrote nothing again


async def test_the_last_update_lands_without_a_flush_when_it_came_during_a_write() -> None:
    """A phase's last report ("merging") arriving while the previous one is being written is written when
    that write ends, not only when the job ends."""
    store = GatedStore()
    reporter = ProgressReporter(cast("JobStore", store), "job-1", interval=0.05, run_id="run-1")
    await reporter.update(50, "downloading")
    await _until(lambda: store.started == 1)
    await reporter.update(99, "merging")
    store.gate.set()
    await _until(lambda: store.stored == ["downloading", "merging"])
