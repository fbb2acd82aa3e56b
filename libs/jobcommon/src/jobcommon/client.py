"""`JobClient`: submit, inspect, follow and cancel jobs — used by the gateway and by applications."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Self, cast

from pydantic import BaseModel, ValidationError

from jobcommon import keys
from jobcommon.admission import Admission
from jobcommon.broker import ensure_groups
from jobcommon.change_feed import ChangeFeed
from jobcommon.connection import Role, connect
from jobcommon.dead_letters import DeadFilter, DeadLetters
from jobcommon.errors import JobNotFound, JobStateConflict
from jobcommon.events import EventHub, follow
from jobcommon.job_types import JOB_TYPES
from jobcommon.models import Job, JobStatus
from jobcommon.requests import AnyJobRequest
from jobcommon.settings import CommonSettings
from jobcommon.store import Created, JobPage, JobStore
from jobcommon.submission import Submission, enqueue, submit_job, submit_many
from jobcommon.tracing import configure_tracing

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from types import TracebackType

    from redis.asyncio import Redis

    from jobcommon.models import JobEvent
    from jobcommon.task_id_patterns import IdPattern


class DeadLetter(BaseModel):
    """A job that ran out of attempts, as listed by `JobClient.dead_letters`."""

    entry_id: str
    reason: str
    job: Job


class JobClient:
    """Async client of the job system. Use as `async with JobClient(settings) as client: ...`."""

    def __init__(
        self, settings: CommonSettings | None = None, *, service_name: str = "mediajobs-client"
    ) -> None:
        self.settings = settings or CommonSettings()
        self.redis: Redis = connect(self.settings, Role.REQUEST)  # a frozen Redis: an error in seconds
        self.store = JobStore(self.redis, self.settings)
        configure_tracing(service_name)
        self.hub = EventHub(self.redis)
        # a blocking read answers well within the command timeout, or it would count as one
        self.changes = ChangeFeed(self.redis, block_ms=int(self.settings.redis_request_timeout_s * 500))
        self.dead = DeadLetters(self.store)
        """Every job's changes in one feed (its reader starts with the first listener)."""

    async def start(self) -> None:
        await ensure_groups(self.redis)
        await self.hub.start()

    async def close(self) -> None:
        await self.changes.stop()
        await self.hub.stop()
        await self.redis.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def submit(
        self,
        request: AnyJobRequest | dict[str, Any],
        *,
        task_id: str | None = None,
        idempotency_key: str | None = None,
        owner: str | None = None,
        admission: Admission | None = None,
    ) -> Created:
        """Validate, record and enqueue a job.

        Returns the new job (status `queued`), or — without enqueueing anything — the job created earlier
        with the same `idempotency_key` (24 h), or the live job already doing the same work (e.g. the same
        download, unless `allow_duplicate`). Raises pydantic.ValidationError for a bad request (follow-ups
        included), JobStateConflict if `task_id` is taken, RateLimited if the `admission` refuses it (the
        owner already has its most live jobs, or the caller submits too fast: checked in the step that would
        create the job) and QueueUnavailable if Redis could not take it. The record and the message are
        written in one atomic step: nothing of a failed submission remains.
        """
        return await submit_job(
            self.store,
            request,
            task_id=task_id,
            idempotency_key=idempotency_key,
            owner=owner,
            admission=admission,
        )

    async def submit_many(
        self, requests: Sequence[AnyJobRequest | dict[str, Any]], *, owner: str | None = None
    ) -> list[Created]:
        """Validate, record and enqueue many jobs in one round trip to Redis (each job one atomic step, as
        `submit`). Raises pydantic.ValidationError, before anything is submitted, if any request is bad, and
        QueueUnavailable if Redis could not take them (a batch of `CREATE_BATCH` is one pipeline, so an
        earlier batch may have been written).
        Returns per request, in order, the new job, or the live job already doing the same work."""
        made = await submit_many(self.store, [Submission(request, owner=owner) for request in requests])
        for one in made:
            if isinstance(one, JobStateConflict):  # pragma: no cover - fresh random ids are never taken
                raise one
        return cast("list[Created]", made)

    async def retry(self, task_id: str) -> Job:
        """Run a failed (or dead-lettered) job again, with a fresh attempt budget.

        Raises JobNotFound, JobStateConflict when the job is not failed, or pydantic.ValidationError (the job
        untouched) when its request, stored before a rule tightened, no longer validates.
        """
        stored = await self.store.get(task_id)
        JOB_TYPES.parse(stored.request)  # stored before a rule tightened: ValidationError, nothing reset
        job = await self.store.reset_for_retry(task_id)
        await self._forget_dead_letters({task_id})  # before it can run (and be dead-lettered) again
        await self._enqueue_again(job)
        return job

    async def retry_many(self, task_ids: Sequence[str]) -> list[Job]:
        """Retry each of these failed jobs (one not found, not failed, or whose stored request no longer
        validates is passed over); the jobs retried."""
        reset: list[Job] = []
        for task_id in task_ids:
            try:
                JOB_TYPES.parse((await self.store.get(task_id)).request)  # else it could never be queued
                reset.append(await self.store.reset_for_retry(task_id))
            except (JobNotFound, JobStateConflict, ValidationError):
                continue
        await self._forget_dead_letters({job.task_id for job in reset})
        for job in reset:
            await self._enqueue_again(job)
        return reset

    async def _enqueue_again(self, job: Job) -> None:
        """Queue a reset job's message on the lane its record names (not the job type's current default)."""
        request = JOB_TYPES.parse(job.request)
        await enqueue(self.redis, request, job.task_id, JOB_TYPES.of(request).queue.stream_of(job.priority))

    async def dead_letters(
        self,
        limit: int = 100,
        *,
        owner: str | None = None,
        error_type: str | None = None,
        job_type: str | None = None,
        tokens: tuple[str, ...] = (),
        by_id: IdPattern | None = None,
        oldest_first: bool = False,
    ) -> list[DeadLetter]:
        """Jobs that ran out of attempts (newest first, or with `oldest_first` the oldest first: the order
        bulk retries and purges take them in) and have not been retried since; only `owner`'s when given, of
        an error type (or dead-letter reason), of a job type, matching search tokens or (either) whose task id
        `by_id` names."""
        only = DeadFilter(owner=owner, error_type=error_type, job_type=job_type, tokens=tokens, by_id=by_id)
        entries = await self.dead.entries(only)
        if oldest_first:
            entries.reverse()
        found: list[DeadLetter] = []
        for entry in entries[:limit]:
            try:
                job = await self.store.get(entry.task_id)
            except JobNotFound:
                continue
            found.append(DeadLetter(entry_id=entry.entry_ids[0], reason=entry.reason, job=job))
        return found

    async def _forget_dead_letters(self, task_ids: set[str]) -> None:
        if not task_ids:
            return
        entries = _entries(await self.redis.xrange(keys.DEAD_LETTERS, "-", "+"))
        stale = [entry_id for entry_id, fields in entries if fields.get("task_id") in task_ids]
        if stale:
            await self.redis.xdel(keys.DEAD_LETTERS, *stale)

    async def get(self, task_id: str) -> Job:
        """The job's record; raises JobNotFound."""
        return await self.store.get(task_id)

    async def cancel(self, task_id: str) -> Job:
        """Cancel a job and its live descendants (queued: at once; running: stopped within a second).

        A finished job whose follow-ups or children still run counts as cancellable: they are cancelled.
        Raises JobNotFound, or JobStateConflict when neither the job nor any descendant can be cancelled.
        """
        try:
            job = await self.store.request_cancel(task_id)
        except JobStateConflict:
            job = await self.store.get(task_id)
            if not await self._cancel_descendants(job):
                raise
            return job
        await self._cancel_descendants(job)
        return job

    async def _cancel_descendants(self, job: Job) -> int:
        cancelled = 0
        pending = list(job.children)
        while pending:
            child_id = pending.pop()
            try:
                child = await self.store.request_cancel(child_id)
                cancelled += 1
            except JobNotFound:
                continue
            except JobStateConflict:
                child = await self.store.get(child_id)
            pending.extend(child.children)
        return cancelled

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> JobPage:
        """Jobs newest first, optionally filtered (`owner`: only that owner's)."""
        return await self.store.list(
            status=status, job_type=job_type, owner=owner, limit=limit, offset=offset
        )

    def events(self, task_id: str) -> AsyncIterator[JobEvent]:
        """The job's current state, then every change, ending after its terminal state."""
        return follow(self.store, self.hub, task_id)

    async def wait(self, task_id: str, timeout: float | None = None) -> Job:  # noqa: ASYNC109
        """Wait until the job ends and return its final record (TimeoutError after `timeout` seconds)."""
        async with asyncio.timeout(timeout):
            last: Job | None = None
            async for event in self.events(task_id):
                last = event.job
        assert last is not None
        return last


def _entries(raw: object) -> list[tuple[str, dict[str, str]]]:
    """Stream entries as read by a decoding client."""
    return cast("list[tuple[str, dict[str, str]]]", raw or [])
