"""The job store: job records in Redis, changed only through atomic, validated transitions."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from jobcommon import keys
from jobcommon.errors import JobNotFound, JobStateConflict
from jobcommon.models import ErrorInfo, Job, JobStatus, Progress, to_hash_fields, utcnow

if TYPE_CHECKING:
    from collections.abc import Iterable

    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

    from jobcommon.settings import CommonSettings


def _lua(name: str) -> str:
    return resources.files("jobcommon").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def _allowed(statuses: Iterable[JobStatus]) -> str:
    return "|" + "|".join(statuses) + "|"


_CANCELLABLE_AT_ONCE = (JobStatus.QUEUED, JobStatus.RETRYING)
_STARTABLE = (JobStatus.QUEUED, JobStatus.RETRYING)


@dataclass(frozen=True, slots=True)
class Transition:
    """Outcome of a transition attempt: the job after it, or the status that refused it."""

    applied: bool
    job: Job | None
    status: JobStatus | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """The stream entry that carried a job to a worker: acknowledged and deleted when the job ends."""

    stream: str
    group: str
    entry_id: str


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[Job]
    next_offset: int | None


class JobStore:
    """Reads and changes job records. Every change is one Lua script: validated, atomic, announced."""

    def __init__(self, redis: Redis, settings: CommonSettings) -> None:
        self.redis = redis
        self.settings = settings
        self._create: AsyncScript = redis.register_script(_lua("create"))
        self._transition: AsyncScript = redis.register_script(_lua("transition"))
        self._touch: AsyncScript = redis.register_script(_lua("touch"))

    # -- reading -------------------------------------------------------------------------------------

    async def get(self, task_id: str) -> Job:
        fields = cast("dict[str, str]", await self.redis.hgetall(keys.job(task_id)))
        if not fields:
            raise JobNotFound(task_id)
        return Job.from_hash(fields)

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> JobPage:
        """Jobs newest first. Index entries whose record expired are pruned on the way."""
        found: list[Job] = []
        position = offset
        chunk = max(limit * 2, 100)
        while len(found) < limit:
            ids = cast(
                "list[str]", await self.redis.zrevrange(keys.JOB_INDEX, position, position + chunk - 1)
            )
            if not ids:
                return JobPage(found, None)
            async with self.redis.pipeline(transaction=False) as pipe:
                for task_id in ids:
                    pipe.hgetall(keys.job(task_id))
                records: list[dict[str, str]] = await pipe.execute()
            expired = [task_id for task_id, rec in zip(ids, records, strict=True) if not rec]
            if expired:
                await self.redis.zrem(keys.JOB_INDEX, *expired)
            live = [rec for rec in records if rec]
            consumed = 0
            for rec in live:
                consumed += 1
                job = Job.from_hash(rec)
                if (status is None or job.status == status) and (
                    job_type is None or job.job_type == job_type
                ):
                    found.append(job)
                    if len(found) == limit:
                        break
            position += consumed
            if len(ids) < chunk and consumed == len(live):
                return JobPage(found, None)
        return JobPage(found, position)

    async def prune_index(self, batch: int = 500) -> int:
        """Drop index entries whose job record has expired; returns how many were dropped."""
        removed = 0
        cursor = 0
        while True:
            cursor, entries = await self.redis.zscan(keys.JOB_INDEX, cursor, count=batch)
            ids = [str(member) for member, _score in entries]
            if ids:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for task_id in ids:
                        pipe.exists(keys.job(task_id))
                    exists: list[int] = await pipe.execute()
                gone = [task_id for task_id, ok in zip(ids, exists, strict=True) if not ok]
                if gone:
                    removed += await self.redis.zrem(keys.JOB_INDEX, *gone)
            if cursor == 0:
                return removed

    # -- changing ------------------------------------------------------------------------------------

    async def create(self, job: Job) -> bool:
        """Store a new job record; False when the task id is already taken."""
        fields = to_hash_fields(**job.model_dump(exclude_none=False, exclude={"progress"}))
        fields["progress"] = job.progress.model_dump_json(exclude_none=True)
        argv: list[Any] = [
            self.settings.queued_ttl_s,
            job.created_at.timestamp(),
            job.task_id,
            max(self.settings.queued_ttl_s, self.settings.result_ttl_s),
        ]
        for name, value in fields.items():
            argv += [name, value]
        created = await self._create(keys=[keys.job(job.task_id), keys.JOB_INDEX], args=argv)
        return bool(created)

    async def transition(
        self,
        task_id: str,
        *,
        allowed: Iterable[JobStatus],
        to: JobStatus | None = None,
        event: str = "status",
        attempts: int = 0,
        delivery: Delivery | None = None,
        **fields: Any,
    ) -> Transition:
        """Apply a change if the job's status is one of `allowed`; announce it as `event`.

        With a `delivery`, the job's stream entry is acknowledged and deleted in the same atomic step.
        """
        ttl = 0
        if to is not None:
            ttl = self._ttl_for(to)
        elif fields.get("progress") is not None:
            ttl = self.settings.progress_ttl_s
        argv: list[Any] = [_allowed(allowed), to.value if to else "", ttl, event, attempts]
        script_keys = [keys.job(task_id), keys.job_events(task_id)]
        if delivery is None:
            argv += ["", ""]
        else:
            argv += [delivery.group, delivery.entry_id]
            script_keys.append(delivery.stream)
        for name, value in to_hash_fields(**fields).items():
            argv += [name, value]
        reply = await self._transition(keys=script_keys, args=argv)
        code = int(reply[0])
        if code == -1:
            return Transition(applied=False, job=None, status=None)
        if code == 0:
            return Transition(applied=False, job=None, status=JobStatus(reply[1]))
        flat: list[str] = reply[1]
        job = Job.from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))
        return Transition(applied=True, job=job, status=job.status)

    def _ttl_for(self, status: JobStatus) -> int:
        if status.terminal:
            return self.settings.result_ttl_s
        if status == JobStatus.RUNNING:
            return self.settings.progress_ttl_s
        return self.settings.queued_ttl_s

    async def start(self, task_id: str, worker: str) -> Transition:
        """A worker takes the job: queued/retrying -> running, one more attempt."""
        return await self.transition(
            task_id,
            allowed=_STARTABLE,
            to=JobStatus.RUNNING,
            attempts=1,
            started_at=utcnow(),
            worker=worker,
            error=None,
        )

    async def report_progress(self, task_id: str, progress: Progress) -> Transition:
        return await self.transition(
            task_id, allowed=(JobStatus.RUNNING,), event="progress", progress=progress
        )

    async def succeed(
        self,
        task_id: str,
        result: dict[str, Any],
        progress: Progress | None = None,
        delivery: Delivery | None = None,
    ) -> Transition:
        extra: dict[str, Any] = {"progress": progress} if progress is not None else {}
        return await self.transition(
            task_id,
            allowed=(JobStatus.RUNNING,),
            to=JobStatus.SUCCEEDED,
            delivery=delivery,
            finished_at=utcnow(),
            result=result,
            **extra,
        )

    async def fail(self, task_id: str, error: ErrorInfo, delivery: Delivery | None = None) -> Transition:
        return await self.transition(
            task_id,
            allowed=(JobStatus.RUNNING,),
            to=JobStatus.FAILED,
            delivery=delivery,
            finished_at=utcnow(),
            error=error,
        )

    async def mark_cancelled(self, task_id: str, delivery: Delivery | None = None) -> Transition:
        """A running job stopped because it was cancelled."""
        return await self.transition(
            task_id,
            allowed=(JobStatus.RUNNING,),
            to=JobStatus.CANCELLED,
            delivery=delivery,
            finished_at=utcnow(),
        )

    async def acknowledge(self, delivery: Delivery) -> None:
        """Acknowledge and delete a stream entry whose job needs nothing more (already ended or gone)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(delivery.stream, delivery.group, delivery.entry_id)
            pipe.xdel(delivery.stream, delivery.entry_id)
            await pipe.execute()

    async def request_cancel(self, task_id: str) -> Job:
        """Cancel a job: at once when it waits, by request when it runs; refused when it has finished."""
        done = await self.transition(
            task_id, allowed=_CANCELLABLE_AT_ONCE, to=JobStatus.CANCELLED, finished_at=utcnow()
        )
        if done.job is not None:
            return done.job
        if done.status == JobStatus.RUNNING:
            asked = await self.transition(task_id, allowed=(JobStatus.RUNNING,), cancel_requested=True)
            if asked.job is not None:
                return asked.job
            done = asked
        if done.status is None:
            raise JobNotFound(task_id)
        raise JobStateConflict(
            task_id, done.status, f"job already {done.status.value}; it cannot be cancelled"
        )

    async def check_in(self, task_id: str) -> tuple[JobStatus | None, bool]:
        """A running job's heartbeat: renews its TTL; returns (status, cancel requested)."""
        status, cancel = await self._touch(keys=[keys.job(task_id)], args=[self.settings.progress_ttl_s])
        return (JobStatus(status) if status else None), cancel == "1"
