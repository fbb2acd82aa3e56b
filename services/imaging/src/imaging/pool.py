"""The CPU pool: decoding, resampling and encoding run in worker processes, never on the event loop.

One `ProcessPoolExecutor` per service process, sized to the cores (`IMAGING_WORKERS`). Handlers await
`pool.run(fn, work, ...)`; the event loop stays free for heartbeats, lease renewals and cancel checks.
When a job is cancelled its handler's await is cancelled at once: work not yet started is dropped, and
work already running sees the job's cancel flag at its next check (between frames, sheets or outputs) and
stops; its result would be discarded anyway.

Worker processes are started with `spawn` (the service process has threads; forking it is unsafe) and
set up by `imaging.worker`. A process that dies (a decoder crash, the OOM killer) breaks the executor: the
sources it was running fail with a TransientError and a new pool replaces it.

Each unit of work records its phases as spans in the pool process (`imaging.pool_spans`); they are exported
from here into the job's trace, children of the span current where the work was awaited.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from imaging.pool_spans import recorded
from imaging.worker import init_worker, ready
from jobcommon import TransientError, provided
from jobcommon.tracing import export_recorded

if TYPE_CHECKING:
    from collections.abc import Callable

    from imaging.work import CancelToken

log = logging.getLogger("mediajobs.imaging.pool")

T = TypeVar("T")


class CpuPool:
    def __init__(self, workers: int, max_pixels: int) -> None:
        self.workers = workers
        self.max_pixels = max_pixels
        self._executor: ProcessPoolExecutor | None = None

    def _create(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(self.max_pixels, os.getpid()),
        )
        for _ in range(self.workers):  # start every process now (one per call while none is idle)
            executor.submit(ready)
        return executor

    def start(self) -> None:
        if self._executor is None:
            self._executor = self._create()
            log.info("CPU pool: %d worker processes", self.workers)

    async def run(self, fn: Callable[..., T], /, *args: Any, token: CancelToken) -> T:
        """`fn(*args)` in a pool process. On cancel, sets `token` so running work stops early."""
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # Told to stop already, but an earlier await swallowed the CancelledError (Python 3.11's
            # asyncio.wait_for, inside redis-py, can): do not start more work.
            token.set()
            raise asyncio.CancelledError
        self.start()
        executor = self._executor
        assert executor is not None
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(executor, functools.partial(recorded, fn, *args))
        except asyncio.CancelledError:
            if task is None or task.cancelling():
                token.set()
            else:  # not a cancel of this job: leave its other sources alone
                log.warning("unexpected cancellation of %s (not cancelling the job's work)", fn.__module__)
            raise
        except BrokenProcessPool as exc:
            self._replace(executor)
            raise TransientError(
                f"a CPU pool process died ({exc}); the pool was restarted", error_type="WorkerCrashed"
            ) from None
        export_recorded(outcome.spans, scope="imaging.pool")
        return outcome.unwrap()

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is broken:
            log.error("a CPU pool process died; starting a new pool")
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._create()

    async def close(self) -> None:
        """Stop the pool: queued work is dropped, running work finishes (or stops at its cancel flag)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


Pool = Annotated[CpuPool, provided("pool")]
"""Handler parameter: the service's CPU pool (`imaging.app.build` creates it)."""
