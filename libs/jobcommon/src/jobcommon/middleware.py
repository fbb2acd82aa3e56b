"""The one place a job's delivery is decided: start it, watch it, end it, acknowledge it.

`JobMiddleware` wraps every job handler of a service. Handlers stay plain typed functions; they end by
returning a result or raising (see `errors`, `outcome`), and this module turns that into the job's next state:
succeeded, retrying (after backoff), failed (dead-lettered when out of attempts) or cancelled.

While a handler runs, its run checks in every `cancel_poll_s`: it notices cancel requests and renews the
job's lease (the idle time of its stream delivery). A worker that dies stops renewing; after `lease_s` its
deliveries are reclaimed and run again. Every write of a run is fenced by its run id, so a run that lost its
lease can never overwrite the run that replaced it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware
from faststream.message import AckStatus
from opentelemetry import trace
from pydantic import ValidationError
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from jobcommon import context, job_spans, media_dirs, metrics, outcome
from jobcommon.cancellation import cancel_and_wait, outlasting_cancellation, reraise_if_cancelling
from jobcommon.errors import HardTimeLimitExceeded, PermanentError, QueueUnavailable, TimeLimitExceeded
from jobcommon.job_types import JOB_TYPES
from jobcommon.log_context import RunFields, bound
from jobcommon.models import ErrorInfo, ErrorRecord, Job, JobStatus, Progress, utcnow
from jobcommon.policies import JobPolicy, policy_for
from jobcommon.progress import ProgressReporter
from jobcommon.requests import RetryOverride, TimeLimitOverride
from jobcommon.store import Delivery
from jobcommon.submission import discard_staged_follow_ups, stage_follow_ups

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

    from faststream._internal.context.repository import ContextRepo
    from faststream.message import StreamMessage

    from jobcommon.queues import QueueSpec
    from jobcommon.settings import CommonSettings
    from jobcommon.store import JobStore, StagedFollowUp
    from jobcommon.worker_slots import WorkerSlots

log = logging.getLogger("mediajobs.jobs")

SHUTDOWN_CANCEL_S = 2.0
MIN_CHECK_IN_S = 0.05
"""A check-in is not started closer than this to the soft time limit."""
CHECK_IN_WHILE_STOPPING_S = 1.0
"""Longest a check-in may take while a handler is being stopped (the cancel is repeated after it)."""


class JobRuntime:
    """What a service's job middleware needs: the store, settings, its queue, this worker's name and slots."""

    def __init__(
        self,
        store: JobStore,
        settings: CommonSettings,
        spec: QueueSpec,
        worker: str,
        slots: WorkerSlots,
        on_runaway: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.spec = spec
        self.lane_of = {stream: priority for priority, stream in spec.lanes.items()}
        """The priority of each stream of the queue (its lanes)."""
        self.worker = worker
        self.on_runaway = on_runaway
        """Called when a run outlived its hard time limit (the service should restart)."""
        self.running: dict[str, context.JobContext] = {}
        self.slots = slots
        """The worker's slots its subscriber reads by (`jobcommon.steady_reads`): a message's ends here."""

    def middleware(self, msg: Any, /, *, context: ContextRepo) -> JobMiddleware:
        """Middleware factory, for `RedisBroker(middlewares=[..., runtime.middleware])`."""
        return JobMiddleware(msg, context=context, runtime=self)

    def output_dir(self, task_id: str) -> Path:
        return media_dirs.output_dir(self.settings.media_root, task_id)

    def temp_dir(self, task_id: str) -> Path:
        return media_dirs.scratch_dir(self.settings.media_root, task_id)


class JobMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, runtime: JobRuntime) -> None:
        super().__init__(msg, context=context)
        self.runtime = runtime
        self._error: BaseException | None = None
        """The exception the handler raised, if it did (for the attempt span's exception event)."""
        self._renewed = 0.0
        """When the run last renewed its lease (monotonic; the start counts: it claims the delivery)."""

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        """The message's handling is over, whatever it was (also when no handler took it): its slot is
        free."""
        raw = self.msg if isinstance(self.msg, dict) else {}
        if (ids := raw.get("message_ids")) and isinstance(channel := raw.get("channel"), str):
            self.runtime.slots.done(channel, ids[0])
        return await super().after_processed(exc_type, exc_val, exc_tb)

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        rt = self.runtime
        task_id = msg.correlation_id
        delivery = Delivery(
            rt.spec.queue,
            rt.spec.group,
            rt.worker,
            msg.raw_message["message_ids"][0],
            rt.lane_of[msg.raw_message["channel"]],
        )
        run_id = uuid.uuid4().hex
        started = await rt.store.start(task_id, delivery, run_id)
        msg.committed = AckStatus.ACKED  # acknowledgement is ours: atomic with the job's transitions
        if started.lost:
            log.info("skip job=%s: its delivery was reclaimed before it started", task_id)
            return None
        if started.job is None:
            # Cancelled while queued, already finished, running elsewhere, or its record expired.
            log.info("skip job=%s status=%s", task_id, started.status)
            await rt.store.acknowledge(delivery)
            return None
        job = started.job
        metrics.QUEUE_WAIT.labels(job.job_type).observe(_waited_s(delivery.entry_id))
        with (
            bound(RunFields(task_id, job.job_type, job.attempts, job.trace_id)),
            job_spans.attempt(job, rt.spec, delivery.entry_id, msg.headers),
        ):
            await self._consume(job, delivery, run_id, call_next, msg)
        return None

    async def _consume(
        self,
        job: Job,
        delivery: Delivery,
        run_id: str,
        call_next: Callable[[Any], Awaitable[Any]],
        msg: StreamMessage[Any],
    ) -> None:
        rt, task_id = self.runtime, job.task_id
        policy = _policy(job)
        ctx = context.JobContext(
            job=job,
            output_dir=rt.output_dir(task_id),
            temp_dir=rt.temp_dir(task_id),
            reporter=ProgressReporter(
                rt.store,
                task_id,
                rt.settings.progress_interval_s,
                run_id=run_id,
                span=trace.get_current_span(),
            ),
        )
        log.info(
            "start job=%s type=%s attempt=%d/%d worker=%s",
            task_id,
            job.job_type,
            job.attempts,
            job.max_attempts,
            rt.worker,
        )
        rt.running[task_id] = ctx
        running = metrics.JOBS_RUNNING.labels(job.job_type)
        running.inc()
        began = time.monotonic()
        try:
            result = await self._run(ctx, policy, delivery, run_id, call_next, msg)
            metrics.ATTEMPT_DURATION.labels(job.job_type).observe(time.monotonic() - began)
        except asyncio.CancelledError:
            # The service is stopping and the grace period is over: hand the job back, uncounted (if Redis
            # does not answer in time, the delivery goes back when the lease runs out). An ordinary stop, so
            # the cancellation ends here: raised on, FastStream would log it as an error with a traceback.
            released = await outlasting_cancellation(
                rt.store.release(rt.spec.queue, rt.spec.group, [delivery.entry_id], delivery.priority),
                within_s=SHUTDOWN_CANCEL_S,
            )
            if released is None:
                log.warning("could not release job=%s while stopping; it comes back after its lease", task_id)
            else:
                log.info("released job=%s (service stopping)", task_id)
            job_spans.event("released", {"mediajobs.reason": "the service is stopping"})
            return
        finally:
            rt.running.pop(task_id, None)
            running.dec()
        await _persistently(
            lambda: self._record(ctx, policy, result, delivery, run_id), self.runtime.settings.lease_s
        )

    async def _run(
        self,
        ctx: context.JobContext,
        policy: JobPolicy,
        delivery: Delivery,
        run_id: str,
        call_next: Callable[[Any], Awaitable[Any]],
        msg: StreamMessage[Any],
    ) -> outcome.Outcome:
        """Run the handler under its watch and time limits."""
        context.bind(ctx)  # copied into the handler's task below
        work: asyncio.Task[Any] = asyncio.ensure_future(call_next(msg))
        try:
            verdict = await self._watch(ctx, work, policy, delivery, run_id)
        except BaseException:  # the service is stopping (or the watch itself failed): the handler stops too
            await outlasting_cancellation(
                cancel_and_wait(work, within_s=SHUTDOWN_CANCEL_S, report=False), within_s=SHUTDOWN_CANCEL_S
            )
            raise
        if verdict is None:  # the handler ended by itself
            if work.cancelled():
                return outcome.CANCELLED
            exc = work.exception()
            self._error = exc
            return outcome.from_result(work.result()) if exc is None else outcome.from_exception(exc)
        # A cancel was requested, the lease was lost or the soft limit passed: stop the handler.
        ended, verdict = await self._stop(ctx, work, policy, delivery, run_id, verdict)
        if not ended:
            self.runtime.on_runaway()
        if verdict.verdict == outcome.Verdict.LOST:
            return verdict  # the job is another run's now: this one must not touch its record or directories
        if not ended:
            return outcome.from_exception(
                HardTimeLimitExceeded(
                    f"still running at the hard time limit of {policy.hard_limit_s:g} s; the worker restarts"
                )
            )
        if not work.cancelled() and (exc := work.exception()) is not None:
            self._error = exc  # what the handler raised while stopping: on the attempt's span
        return verdict

    async def _watch(
        self,
        ctx: context.JobContext,
        work: asyncio.Task[Any],
        policy: JobPolicy,
        delivery: Delivery,
        run_id: str,
    ) -> outcome.Outcome | None:
        """Wait for the handler; None when it ended, else why it must stop: a cancel request, the job no
        longer being this run's, or its soft time limit.

        Every `cancel_poll_s` the run checks in (cancel requested? still ours?), renewing its lease every
        third of `lease_s`. A check-in never holds up noticing the handler's end or the soft limit (it runs
        beside them), and it is the only extra task a run makes, so a job shorter than `cancel_poll_s` costs
        none. Redis being briefly unreachable is not a reason to stop; not having renewed the lease for a
        whole `lease_s` is (by then the job may be reclaimed and running elsewhere).
        """
        store, settings = self.runtime.store, self.runtime.settings
        deadline = time.monotonic() + policy.soft_limit_s
        renew_every = settings.lease_s / 3
        self._renewed = time.monotonic()
        while True:
            left = deadline - time.monotonic()
            if left > 0:
                await asyncio.wait((work,), timeout=min(settings.cancel_poll_s, left))
            if work.done():
                return None
            if time.monotonic() >= deadline:
                return self._soft_limit(ctx, policy)
            if deadline - time.monotonic() < MIN_CHECK_IN_S:
                continue  # no time for a check-in before the soft limit: it would only be cut off
            renew = time.monotonic() - self._renewed >= renew_every
            check = await _beside(work, store.check_in(ctx.task_id, run_id, delivery, renew=renew), deadline)
            if work.done():
                return None
            if check is None:
                return self._soft_limit(ctx, policy)
            try:
                state, cancel = check.result()
            except (RedisError, OSError) as exc:
                if self._lease_ran_out(ctx, self._renewed, exc):
                    return outcome.LOST
                continue
            if renew:
                self._renewed = time.monotonic()
            if (verdict := _checked_in(ctx, state, cancel)) is not None:
                return verdict

    async def _stop(
        self,
        ctx: context.JobContext,
        work: asyncio.Task[Any],
        policy: JobPolicy,
        delivery: Delivery,
        run_id: str,
        verdict: outcome.Outcome,
    ) -> tuple[bool, outcome.Outcome]:
        """Cancel the handler and give it until the hard limit to end: whether it ended, and the run's verdict
        (`verdict`, unless the lease was lost meanwhile, or a cancel was requested after a soft limit).

        The run still holds its job meanwhile, so unless the lease is already lost it keeps renewing it on the
        watch's schedule (every third of `lease_s`; a failed renewal tried again after the next
        `cancel_poll_s` of cancelling; a check-in cut off after CHECK_IN_WHILE_STOPPING_S so the cancel is
        repeated): a handler slow to stop (the grace is `hard_limit_s - soft_limit_s`, 300 s by default
        against a 30 s lease) is not reclaimed and run a second time beside itself. As in the watch, the
        lease counts as lost when a check-in says the run is no longer the job's, or when none could renew
        it for a whole `lease_s`.
        """
        store, settings = self.runtime.store, self.runtime.settings
        deadline = time.monotonic() + max(0.0, policy.hard_limit_s - policy.soft_limit_s)
        renew_every = settings.lease_s / 3
        while True:
            slice_s = min(settings.cancel_poll_s, max(0.0, deadline - time.monotonic()))
            if await cancel_and_wait(work, within_s=slice_s, report=False):
                return True, verdict
            if time.monotonic() >= deadline:
                return False, verdict
            lost = verdict.verdict == outcome.Verdict.LOST
            if lost or time.monotonic() - self._renewed < renew_every:
                continue
            bound = min(deadline, time.monotonic() + CHECK_IN_WHILE_STOPPING_S)
            check = await _beside(work, store.check_in(ctx.task_id, run_id, delivery, renew=True), bound)
            failure = TimeoutError("the check-in did not answer") if check is None else check.exception()
            if failure is not None:
                if not isinstance(failure, RedisError | OSError):
                    raise failure
                if self._lease_ran_out(ctx, self._renewed, failure):
                    verdict = outcome.LOST
                continue
            assert check is not None
            state, cancel = check.result()
            if state == "ok":
                self._renewed = time.monotonic()
            said = _checked_in(ctx, state, cancel and verdict.verdict != outcome.Verdict.CANCELLED)
            if said is not None:  # LOST, or CANCELLED when a cancel came after the soft limit
                verdict = said

    def _lease_ran_out(self, ctx: context.JobContext, renewed: float, exc: BaseException) -> bool:
        """A check-in failed: has the lease gone unrenewed for a whole `lease_s` (then the run stops)?"""
        lease_s = self.runtime.settings.lease_s
        if time.monotonic() - renewed <= lease_s:
            return False
        log.warning("job=%s: could not renew its lease for %.0f s (%s)", ctx.task_id, lease_s, exc)
        return True

    @staticmethod
    def _soft_limit(ctx: context.JobContext, policy: JobPolicy) -> outcome.Outcome:
        ctx.soft_limit_reached.set()
        return outcome.from_exception(
            TimeLimitExceeded(f"soft time limit of {policy.soft_limit_s:g} s passed")
        )

    async def _record(
        self,
        ctx: context.JobContext,
        policy: JobPolicy,
        result: outcome.Outcome,
        delivery: Delivery,
        run_id: str,
    ) -> None:
        """Write how the run ended and acknowledge its message, in one atomic step."""
        store, task_id = self.runtime.store, ctx.task_id
        if result.verdict == outcome.Verdict.LOST:
            job_spans.event("lease lost", {"mediajobs.reason": "another run owns the job now"})
            return  # another run owns the job now (and its directories)
        comes_back = result.verdict == outcome.Verdict.DEFERRED or (
            result.verdict == outcome.Verdict.FAILED and self._will_retry(ctx, result)
        )
        removes = result.verdict not in (outcome.Verdict.SUCCEEDED, outcome.Verdict.DEFERRED)
        if removes and not await self._still_ours(ctx, delivery, run_id):
            # The run lost the job without noticing yet (its lease ran out, another run has it): the job's
            # directories are that run's now, and its record will refuse this one's ending anyway.
            job_spans.event("lease lost", {"mediajobs.reason": "another run owns the job now"})
            log.info("job=%s is no longer this run's; leaving its files and record alone", task_id)
            return
        if not comes_back and result.verdict != outcome.Verdict.SUCCEEDED:
            # Scratch space goes when the job leaves this worker for good; a retry or a deferral keeps it (a
            # download resumes from its partial file; the janitor removes scratch of jobs no longer active).
            await _remove(ctx.temp_dir)
        await ctx.reporter.flush()
        if result.verdict == outcome.Verdict.DEFERRED:
            await self._deferred(ctx, result, delivery, run_id)
            return
        if result.verdict == outcome.Verdict.AWAITING and result.children is not None:
            handed = await store.await_children(
                task_id,
                delivery=delivery,
                run_id=run_id,
                children=result.children.children,
                children_stream=result.children.stream,
                concurrency=result.children.concurrency,
            )
            log.info("job=%s awaits %d children (%s)", task_id, len(result.children.children), handed)
            job_spans.event("awaiting children", {"mediajobs.children": len(result.children.children)})
            return
        if result.verdict == outcome.Verdict.SUCCEEDED:
            final = ctx.reporter.latest.model_copy(update={"percent": 100.0})
            try:
                follow_ups = await self._follow_ups(ctx) if ctx.job.request.get("then") else []
            except ValueError as exc:  # a follow-up request no longer validates: never leave the job running
                if not await self._still_ours(ctx, delivery, run_id):
                    return
                await _remove(ctx.output_dir)
                await _remove(ctx.temp_dir)
                why = outcome.first_problem(exc) if isinstance(exc, ValidationError) else str(exc)
                error = PermanentError(
                    f"its follow-up jobs could not be created: {why}", error_type="FollowUpError"
                )
                await self._failed(ctx, policy, outcome.from_exception(error), delivery, run_id)
                return
            links: dict[str, Any] = {"children": [f.task_id for f in follow_ups]} if follow_ups else {}
            ended = await store.finish(
                task_id,
                JobStatus.SUCCEEDED,
                delivery=delivery,
                run_id=run_id,
                result=result.result or {},
                progress=final,
                release=[f for f in follow_ups if f.staged],
                **links,
            )
            _count_finished(ctx, JobStatus.SUCCEEDED, ended.applied)
            if ended.applied:  # its scratch goes once the job is done, and only then (see above)
                await _remove(ctx.temp_dir)
            log.info("succeeded job=%s", task_id)
        else:
            await _remove(ctx.output_dir)
            if result.verdict == outcome.Verdict.CANCELLED:
                stopped = ctx.reporter.latest.model_copy(
                    update={"message": "cancelled", "speed": None, "eta": None, "updated_at": utcnow()}
                )  # how far it got stays; what it was doing and how fast does not
                ended = await store.finish(
                    task_id, JobStatus.CANCELLED, delivery=delivery, run_id=run_id, progress=stopped
                )
                job_spans.event("cancelled")
                await self._drop_follow_ups(ctx)
                _count_finished(ctx, JobStatus.CANCELLED, ended.applied)
                log.info("cancelled job=%s", task_id)
            else:
                await self._failed(ctx, policy, result, delivery, run_id)
                return
        if not ended.applied and not ended.lost:
            log.warning("job=%s ended %s but its record says %s", task_id, result.verdict, ended.status)
            await store.acknowledge(delivery)

    async def _still_ours(self, ctx: context.JobContext, delivery: Delivery, run_id: str) -> bool:
        """Whether the job is still this run's, checked before its directories are removed."""
        state, _cancel = await self.runtime.store.check_in(ctx.task_id, run_id, delivery, renew=False)
        return state == "ok"

    async def _follow_ups(self, ctx: context.JobContext) -> list[StagedFollowUp]:
        """Create the follow-up jobs a succeeded job names (in this run's trace), staged until it ends."""
        request = JOB_TYPES.parse(ctx.job.request)
        return await stage_follow_ups(self.runtime.store, ctx.job, request)

    async def _drop_follow_ups(self, ctx: context.JobContext) -> None:
        """The job ended without succeeding: follow-ups an earlier run staged will never be released."""
        if ctx.job.request.get("then"):
            request = JOB_TYPES.parse(ctx.job.request)
            await discard_staged_follow_ups(self.runtime.store, ctx.job, request)

    async def _deferred(
        self, ctx: context.JobContext, result: outcome.Outcome, delivery: Delivery, run_id: str
    ) -> None:
        """The job waits for its turn at a shared rate limit: back to `scheduled`, this run uncounted."""
        delay = result.delay_s or 0.0
        if await self.runtime.store.defer(ctx.task_id, delivery=delivery, run_id=run_id, delay_s=delay):
            metrics.DEFERRALS.labels(ctx.job.job_type).inc()
            job_spans.event(
                "deferred", {"mediajobs.defer.delay_s": delay, "mediajobs.reason": result.message}
            )
            log.info("deferred job=%s for %.2f s: %s", ctx.task_id, delay, result.message)

    @staticmethod
    def _will_retry(ctx: context.JobContext, result: outcome.Outcome) -> bool:
        return result.retryable and ctx.attempt < ctx.job.max_attempts

    async def _failed(
        self,
        ctx: context.JobContext,
        policy: JobPolicy,
        result: outcome.Outcome,
        delivery: Delivery,
        run_id: str,
    ) -> None:
        store, task_id, attempt = self.runtime.store, ctx.task_id, ctx.attempt
        error = ErrorInfo(type=result.error_type, message=result.message)
        retry = self._will_retry(ctx, result)
        delay = (result.delay_s if result.delay_s is not None else policy.backoff(attempt)) if retry else None
        record = ErrorRecord(
            attempt=attempt, type=error.type, message=error.message, at=utcnow(), retry_in_s=delay
        )
        errors = [*ctx.job.errors, record]
        metrics.ATTEMPT_ERRORS.labels(ctx.job.job_type, error.type).inc()
        job_spans.failed(trace.get_current_span(), error.type, error.message, self._error)
        if delay is not None:
            parked = await store.retry_later(
                task_id,
                delivery=delivery,
                run_id=run_id,
                delay_s=delay,
                error=error,
                errors=errors,
                progress=_waiting_to_retry(ctx, error, delay),
            )
            if parked:
                metrics.RETRIES.labels(ctx.job.job_type, error.type).inc()
                job_spans.event(
                    "retry scheduled",
                    {"mediajobs.retry.delay_s": delay, "mediajobs.job.next_attempt": attempt + 1},
                )
                log.info("retry job=%s in %.2f s after %s: %s", task_id, delay, error.type, error.message)
            return
        exhausted = result.retryable  # retryable but out of attempts: dead letter
        await self._drop_follow_ups(ctx)
        ended = await store.finish(
            task_id,
            JobStatus.FAILED,
            delivery=delivery,
            run_id=run_id,
            dead_letter="RetriesExhausted" if exhausted else "",
            error=error,
            errors=errors,
        )
        _count_finished(ctx, JobStatus.FAILED, ended.applied)
        if exhausted and ended.applied:
            metrics.DEAD_LETTERS.labels("RetriesExhausted").inc()
            job_spans.event("dead-lettered", {"mediajobs.reason": "RetriesExhausted"})
        log.info(
            "failed job=%s error=%s: %s%s",
            task_id,
            error.type,
            error.message,
            " (dead-lettered)" if exhausted else "",
        )


def _policy(job: Job) -> JobPolicy:
    """The job's retry and time-limit policy, with its request's overrides. Overrides a request stored before
    a rule tightened no longer validate (a time limit under 1 s): the job type's own policy then, and the
    handler's validation of the request fails the job for good (InvalidJobMessage), saying why."""
    request = job.request
    try:
        retry = RetryOverride.model_validate(request["retry"]) if request.get("retry") else None
        limit = request.get("time_limit")
        limits = TimeLimitOverride.model_validate(limit) if limit else None
    except ValidationError:
        return policy_for(job.job_type, None, None)
    return policy_for(job.job_type, retry, limits)


def _count_finished(ctx: context.JobContext, status: JobStatus, applied: bool) -> None:
    if applied:
        metrics.JOBS_FINISHED.labels(ctx.job.job_type, status.value).inc()


def _waiting_to_retry(ctx: context.JobContext, error: ErrorInfo, delay_s: float) -> Progress:
    """The progress a job shows between attempts: when it runs again and why, not the failed attempt's last
    report (its percent, bytes, speed and ETA); a bulk job's item counts stand (this run's, else those it
    started with)."""
    counts = ctx.reporter.latest if ctx.reporter.latest.items_total is not None else ctx.job.progress
    return Progress(
        message=f"next attempt in {_wait_text(delay_s)}; attempt {ctx.attempt} of {ctx.job.max_attempts} "
        f"failed ({error.type})",
        items_total=counts.items_total,
        items_done=counts.items_done,
        items_failed=counts.items_failed,
        updated_at=utcnow(),
    )


def _wait_text(seconds: float) -> str:
    """A wait as a person reads it: "0.4 s", "25 s", "12 min", "3.5 h"."""
    if seconds < 9.95:
        return f"{max(seconds, 0.1):.1f} s"
    if seconds < 119.5:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _waited_s(entry_id: str | bytes) -> float:
    """Time since the message entered its queue: a stream id starts with its Redis time in milliseconds."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return max(0.0, time.time() - int(text.split("-", 1)[0]) / 1000)


async def _remove(path: Path) -> None:
    """Delete a job's directory, if it has one (most jobs never make theirs: no thread for those)."""
    if os.path.lexists(path):  # noqa: ASYNC240 - one stat, where a thread hop costs ~100 µs per job
        await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)


async def _persistently(write: Callable[[], Awaitable[None]], within_s: float) -> None:
    """Retry a write through a short Redis outage (a restart); give up after `within_s`, leaving the
    delivery pending so it is reclaimed and run again rather than lost."""
    try:
        await write()  # the common case, without building a retry loop
    except (RedisError, OSError, QueueUnavailable) as exc:
        reraise_if_cancelling(exc)
    else:
        return
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((RedisError, OSError, QueueUnavailable)),
        wait=wait_exponential(multiplier=0.2, max=2.0),
        stop=stop_after_delay(within_s),
        reraise=True,
    ):
        with attempt:
            try:
                await write()
            except (RedisError, OSError, QueueUnavailable) as exc:
                reraise_if_cancelling(exc)  # a cancellation in disguise is not an outage
                raise


async def _beside(
    work: asyncio.Task[Any], call: Awaitable[tuple[str, bool]], deadline: float
) -> asyncio.Future[tuple[str, bool]] | None:
    """Run `call` beside the handler's `work` until either ends or the monotonic `deadline` passes; the
    call's finished future, or None if it did not finish (it is cancelled then)."""
    check = asyncio.ensure_future(call)
    try:
        await asyncio.wait(
            (work, check), timeout=max(0.0, deadline - time.monotonic()), return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        if not check.done():
            check.cancel()
            check.add_done_callback(_retrieve)  # never awaited: its outcome must not be reported as lost
    return check if check.done() and not check.cancelled() else None


def _checked_in(ctx: context.JobContext, state: str, cancel: bool) -> outcome.Outcome | None:
    """What a check-in's answer means for the run: go on (None), or stop (the lease is lost, or a cancel was
    requested)."""
    if state != "ok":
        log.warning("job=%s: lease lost (%s); stopping this run", ctx.task_id, state)
        return outcome.LOST
    if cancel:
        ctx.cancel_requested.set()
        job_spans.event("cancel requested")
        return outcome.CANCELLED
    return None


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
