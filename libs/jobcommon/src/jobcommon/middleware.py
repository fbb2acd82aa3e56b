"""The one place a job's delivery is decided: start it, watch it, record how it ended, acknowledge it.

`JobMiddleware` wraps every job handler of a service. Handlers stay plain typed functions; they end by
returning a result or raising (see `errors`), and this module turns that into the job's transition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware
from faststream.message import AckStatus

from jobcommon import context, outcome
from jobcommon.models import JobStatus
from jobcommon.progress import ProgressReporter
from jobcommon.store import Delivery

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from faststream._internal.context.repository import ContextRepo
    from faststream.message import StreamMessage

    from jobcommon.settings import CommonSettings
    from jobcommon.store import JobStore

log = logging.getLogger("mediajobs.jobs")


class JobRuntime:
    """What a service's job middleware needs: the store, the settings and this worker's name."""

    def __init__(self, store: JobStore, settings: CommonSettings, worker: str) -> None:
        self.store = store
        self.settings = settings
        self.worker = worker
        self.running: dict[str, context.JobContext] = {}

    def middleware(self, msg: Any, /, *, context: ContextRepo) -> JobMiddleware:
        """Middleware factory, for `RedisBroker(middlewares=[..., runtime.middleware])`."""
        return JobMiddleware(msg, context=context, runtime=self)

    def output_dir(self, task_id: str) -> Path:
        return self.settings.media_root / task_id

    def temp_dir(self, task_id: str) -> Path:
        return self.settings.media_root / ".tmp" / task_id


class JobMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, runtime: JobRuntime) -> None:
        super().__init__(msg, context=context)
        self.runtime = runtime

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        rt = self.runtime
        task_id = msg.correlation_id
        delivery = _delivery(msg)
        started = await rt.store.start(task_id, rt.worker)
        if started.job is None:
            # Cancelled while queued, already finished, or its record expired: nothing to run.
            log.info("skip job=%s status=%s", task_id, started.status)
            await rt.store.acknowledge(delivery)
            msg.committed = AckStatus.ACKED
            return None
        ctx = context.JobContext(
            job=started.job,
            output_dir=rt.output_dir(task_id),
            temp_dir=rt.temp_dir(task_id),
            reporter=ProgressReporter(rt.store, task_id, rt.settings.progress_interval_s),
        )
        log.info("start job=%s type=%s attempt=%d", task_id, ctx.job.job_type, ctx.attempt)
        rt.running[task_id] = ctx
        try:
            result = await self._run(ctx, call_next, msg)
            await self._record(ctx, result, delivery)
        finally:
            rt.running.pop(task_id, None)
        msg.committed = AckStatus.ACKED  # the job's end acknowledged it, atomically
        return None

    async def _run(
        self, ctx: context.JobContext, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> outcome.Outcome:
        """Run the handler while watching for a cancel request; the handler's task is cancelled on one."""
        context.bind(ctx)  # copied into the handler's task below
        work: asyncio.Task[Any] = asyncio.ensure_future(call_next(msg))
        watch = asyncio.create_task(self._watch(ctx))
        try:
            await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The service is stopping: stop the handler too; the job is left for redelivery.
            work.cancel()
            watch.cancel()
            await asyncio.gather(work, watch, return_exceptions=True)
            raise
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            return outcome.Outcome(outcome.Verdict.CANCELLED)
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        if work.cancelled():
            return outcome.Outcome(outcome.Verdict.CANCELLED)
        exc = work.exception()
        if exc is not None:
            return outcome.from_exception(exc)
        return outcome.from_result(work.result())

    async def _watch(self, ctx: context.JobContext) -> None:
        """Returns when a cancel is requested; renews the running job's record meanwhile."""
        store, poll = self.runtime.store, self.runtime.settings.cancel_poll_s
        while True:
            await asyncio.sleep(poll)
            status, cancel = await store.check_in(ctx.task_id)
            if cancel or status != JobStatus.RUNNING:
                ctx.cancel_requested.set()
                return

    async def _record(self, ctx: context.JobContext, result: outcome.Outcome, delivery: Delivery) -> None:
        """Write the job's end and acknowledge its message, in one atomic step."""
        store, task_id = self.runtime.store, ctx.task_id
        await asyncio.to_thread(shutil.rmtree, ctx.temp_dir, ignore_errors=True)
        await ctx.reporter.flush()
        if result.verdict == outcome.Verdict.SUCCEEDED:
            final = ctx.reporter.latest.model_copy(update={"percent": 100.0})
            ended = await store.succeed(task_id, result.result or {}, progress=final, delivery=delivery)
            log.info("succeeded job=%s", task_id)
        else:
            await asyncio.to_thread(shutil.rmtree, ctx.output_dir, ignore_errors=True)
            if result.error is None:
                ended = await store.mark_cancelled(task_id, delivery=delivery)
                log.info("cancelled job=%s", task_id)
            else:
                ended = await store.fail(task_id, result.error, delivery=delivery)
                log.info("failed job=%s error=%s: %s", task_id, result.error.type, result.error.message)
        if not ended.applied:
            log.warning("job=%s ended %s but its record says %s", task_id, result.verdict, ended.status)
            await store.acknowledge(delivery)


def _delivery(msg: StreamMessage[Any]) -> Delivery:
    raw = msg.raw_message
    return Delivery(
        stream=raw["channel"], group=getattr(msg, "group", None) or "", entry_id=raw["message_ids"][0]
    )
