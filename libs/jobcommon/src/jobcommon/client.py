"""`JobClient`: submit, inspect, follow and cancel jobs — used by the gateway and by applications."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any, Self

from redis.exceptions import RedisError

from jobcommon import keys
from jobcommon.broker import ensure_groups, make_broker
from jobcommon.connection import connect
from jobcommon.errors import JobStateConflict, QueueUnavailable
from jobcommon.events import follow
from jobcommon.models import Job, JobStatus, utcnow
from jobcommon.queues import queue_for
from jobcommon.requests import JOB_REQUEST_ADAPTER, EchoRequest, VideoDownloadRequest
from jobcommon.settings import CommonSettings
from jobcommon.store import JobPage, JobStore
from jobcommon.tracing import current_trace_id, tracer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import TracebackType

    from redis.asyncio import Redis

    from jobcommon.models import JobEvent


class JobClient:
    """Async client of the job system. Use as `async with JobClient(settings) as client: ...`."""

    def __init__(
        self, settings: CommonSettings | None = None, *, service_name: str = "mediajobs-client"
    ) -> None:
        self.settings = settings or CommonSettings()
        self.redis: Redis = connect(self.settings)
        self.store = JobStore(self.redis, self.settings)
        self.broker = make_broker(self.settings, service_name)

    async def start(self) -> None:
        await ensure_groups(self.redis)
        await self.broker.connect()

    async def close(self) -> None:
        await self.broker.stop()
        await self.redis.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def submit(
        self, request: VideoDownloadRequest | EchoRequest | dict[str, Any], *, task_id: str | None = None
    ) -> Job:
        """Validate, record and enqueue a job; returns its record (status `queued`).

        Raises pydantic.ValidationError for a bad request, JobStateConflict if `task_id` is taken and
        QueueUnavailable if it could not be enqueued (then nothing was submitted).
        """
        if isinstance(request, dict):
            request = JOB_REQUEST_ADAPTER.validate_python(request)
        spec = queue_for(request.job_type)
        task_id = task_id or uuid.uuid4().hex
        with tracer.start_as_current_span(f"submit {request.job_type}"):
            job = Job(
                task_id=task_id,
                job_type=request.job_type,
                queue=spec.queue,
                status=JobStatus.QUEUED,
                created_at=utcnow(),
                trace_id=current_trace_id(),
                request=request.model_dump(mode="json"),
            )
            if not await self.store.create(job):
                raise JobStateConflict(task_id, "exists", f"task id {task_id!r} is already taken")
            try:
                await self.broker.publish(
                    request,
                    stream=spec.stream,
                    correlation_id=task_id,
                    headers={"x-job-type": request.job_type},
                )
            except (RedisError, OSError) as exc:
                await self.redis.delete(keys.job(task_id))
                await self.redis.zrem(keys.JOB_INDEX, task_id)
                raise QueueUnavailable(f"could not enqueue job: {exc}") from exc
        return job

    async def get(self, task_id: str) -> Job:
        """The job's record; raises JobNotFound."""
        return await self.store.get(task_id)

    async def cancel(self, task_id: str) -> Job:
        """Cancel a job (queued: at once; running: its handler is stopped within a second).

        Raises JobNotFound, or JobStateConflict when the job has already finished.
        """
        return await self.store.request_cancel(task_id)

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> JobPage:
        return await self.store.list(status=status, job_type=job_type, limit=limit, offset=offset)

    def events(self, task_id: str) -> AsyncIterator[JobEvent]:
        """The job's current state, then every change, ending after its terminal state."""
        return follow(self.store, task_id)

    async def wait(self, task_id: str, timeout: float | None = None) -> Job:  # noqa: ASYNC109
        """Wait until the job ends and return its final record (TimeoutError after `timeout` seconds)."""
        async with asyncio.timeout(timeout):
            last: Job | None = None
            async for event in self.events(task_id):
                last = event.job
        assert last is not None
        return last
