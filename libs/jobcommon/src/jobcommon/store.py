"""The job store: job records in Redis, changed only through atomic, validated transitions (Lua scripts)."""

from __future__ import annotations

import builtins
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel
from redis.exceptions import ResponseError

from jobcommon import keys
from jobcommon.admission import Admission
from jobcommon.errors import (
    IdempotencyKeyReused,
    JobNotFound,
    JobStateConflict,
    RateLimited,
    TooManySubmissions,
)
from jobcommon.job_index import Cursor, JobIndex, JobQuery
from jobcommon.models import Job, JobStatus, Progress, to_hash_fields, utcnow
from jobcommon.priorities import Priority
from jobcommon.replies import Reply
from jobcommon.scripts import lua_source
from jobcommon.search_tokens import outcome_tokens, request_tokens

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Sequence

    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

    from jobcommon.messages import JobMessage
    from jobcommon.settings import CommonSettings

IDEMPOTENCY_TTL_S = 24 * 3600
NO_ADMISSION = Admission()
"""No quota, no rate: what `create` checks unless told otherwise."""

CREATE_BATCH = 500
"""`create_many` sends at most this many creations per round trip (bounds one reply's size and wait)."""
DEAD_LETTER_MAXLEN = 10_000
LIST_SCAN_LIMIT = 2_000
"""Most job records one listing call reads (filters that match rarely page on instead of scanning on)."""
RECLAIMER = "reclaimer"
"""Consumer name under which stale deliveries are claimed, for the instant before they are requeued."""


_NOT_STORED_ON_CREATE = {"trace_url"}
"""A new record holds only what differs from the defaults (an absent field reads as its default:
`Job.from_hash`, the scripts), and none of the computed fields. Small values keep a queued job's hash in
Redis's compact encoding."""


def _start_time(job: Job) -> tuple[str, str]:
    """A scheduled job's (due epoch s, '') from its `run_at`, or ('', delay s) from its `delay_s` (counted on
    Redis's clock); ('', '') for a job that is not scheduled."""
    if job.status != JobStatus.SCHEDULED:
        return "", ""
    run_at = job.request.get("run_at")
    if run_at:
        return str(datetime.fromisoformat(run_at).timestamp()), ""
    return "", str(job.request.get("delay_s") or 0)


def _allowed(statuses: Iterable[JobStatus]) -> str:
    return "|" + "|".join(statuses) + "|"


def _outcome_tokens(fields: dict[str, Any]) -> str:
    """The search tokens a transition's result or error adds (JSON), or '' for none."""
    result, error = fields.get("result"), fields.get("error")
    if isinstance(error, BaseModel):
        error = error.model_dump()
    tokens = outcome_tokens(
        result if isinstance(result, dict) else None, error if isinstance(error, dict) else None
    )
    return json.dumps(tokens) if tokens else ""


def _job_from_flat(flat: Sequence[str]) -> Job:
    return Job.from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))


@dataclass(frozen=True, slots=True)
class Delivery:
    """The stream entry that carried a job to a worker (consumer): the job's lease while it runs."""

    queue: str
    group: str
    consumer: str
    entry_id: str
    priority: Priority = Priority.NORMAL
    """The lane (`jobcommon.priorities`) whose stream the entry is in."""

    @property
    def stream(self) -> str:
        return keys.stream(self.queue, self.priority)

    @property
    def inflight(self) -> str:
        return keys.inflight(self.queue, self.priority)


@dataclass(frozen=True, slots=True)
class Transition:
    """Outcome of a transition attempt: the job after it, or the status that refused it."""

    applied: bool
    job: Job | None
    status: JobStatus | None
    lost: bool = False
    """The caller's run no longer owns the job (its delivery was reclaimed or another run started)."""


@dataclass(frozen=True, slots=True)
class StagedFollowUp:
    """A follow-up job whose message waits in `staged` until its parent succeeds, then goes to `stream`."""

    task_id: str
    staged: str
    stream: str


@dataclass(frozen=True, slots=True)
class Created:
    job: Job
    created: bool
    """False when an earlier job was returned instead (idempotency key or duplicate work)."""
    reason: Literal["created", "idempotent", "duplicate"] = "created"


@dataclass(frozen=True, slots=True)
class NewJob:
    """One job for `JobStore.create_many`: its record, and what `JobStore.create` takes besides."""

    job: Job
    message: JobMessage | None = None
    idempotency_key: str | None = None
    duplicate_guard: str | None = None


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[Job]
    next_offset: int | None
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Requeued:
    requeued: int
    dead: int
    dropped: int


class JobStore:
    """Reads and changes job records. Every change is one Lua script: validated, atomic, announced."""

    def __init__(self, redis: Redis, settings: CommonSettings) -> None:
        self.redis = redis
        self.settings = settings
        self._create: AsyncScript = redis.register_script(lua_source("create", with_rate_limiter=True))
        self._start: AsyncScript = redis.register_script(lua_source("start"))
        self._transition: AsyncScript = redis.register_script(lua_source("transition", with_parent_hook=True))
        self._touch: AsyncScript = redis.register_script(lua_source("touch"))
        self._retry_later: AsyncScript = redis.register_script(lua_source("retry_later"))
        self._promote: AsyncScript = redis.register_script(lua_source("promote"))
        self._requeue: AsyncScript = redis.register_script(lua_source("requeue", with_parent_hook=True))
        self._await_children: AsyncScript = redis.register_script(
            lua_source("await_children", with_parent_hook=True)
        )
        self._set_prune: AsyncScript = redis.register_script(lua_source("set_prune"))
        self.index = JobIndex(redis)

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
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> JobPage:
        """Jobs newest first (only `owner`'s when given), from the listing index (`jobcommon.job_index`)."""
        query = JobQuery(owner=owner, status=status, job_type=job_type)
        return await self.search(query, limit=limit, offset=offset)

    async def search(
        self, query: JobQuery, *, limit: int = 50, cursor: str | None = None, offset: int = 0
    ) -> JobPage:
        """Jobs matching `query`, newest first: after `cursor` (from an earlier page), or passing over the
        first `offset` matches. One call looks at no more than `LIST_SCAN_LIMIT` index entries: a rare
        filter answers with fewer jobs and a `next_cursor`/`next_offset` to go on from, never with an
        unbounded scan; a page holding the last matching jobs (however many) has neither. Index entries whose
        record expired are dropped on the way.

        Raises ValueError for a cursor this store did not hand out."""
        after = Cursor.decode(cursor) if cursor else None
        page = await self.index.page(
            query, limit=limit, after=after, skip=0 if after else offset, scan_limit=LIST_SCAN_LIMIT
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in page.task_ids:
                pipe.hgetall(keys.job(task_id))
            records: list[dict[str, str]] = await pipe.execute()
        jobs = [Job.from_hash(record) for record in records if record]
        if page.cursor is None:
            return JobPage(jobs, None, None)
        return JobPage(jobs, None if after else offset + len(page.task_ids), page.cursor.encode())

    async def prune_index(self, batch: int = 1000) -> int:
        """Drop index entries (listing, status, search; every owner's active set) of jobs whose record has
        expired; returns how many jobs' entries were dropped."""
        removed = await self.index.prune(batch)
        async for key in self.redis.scan_iter(match=keys.owner_active("*"), count=batch):
            removed += await self._prune_set(str(key), batch)
        return removed

    async def _prune_set(self, index: str, batch: int) -> int:
        removed = 0
        cursor = "0"
        while True:
            cursor, dropped = cast(
                "list[Any]", await self._set_prune(keys=[index], args=[cursor, batch, keys.JOB_PREFIX])
            )
            removed += int(dropped)
            if str(cursor) == "0":
                return removed

    # -- creating ------------------------------------------------------------------------------------

    async def create(
        self,
        job: Job,
        *,
        idempotency_key: str | None = None,
        duplicate_guard: str | None = None,
        message: JobMessage | None = None,
        admission: Admission | None = None,
    ) -> Created:
        """Store a new job record and, in the same atomic step, add its `message` to its stream; or return
        the job an idempotency key or a duplicate guard points at (nothing is added then).

        Raises JobStateConflict when the task id is already taken, and RateLimited when the `admission`
        refuses it: the job's owner already has its most live jobs, or the caller submits too fast.
        """
        admission = admission or NO_ADMISSION
        script_keys, argv = self._create_call(job, idempotency_key, duplicate_guard, message, admission)
        reply = await self._create(keys=script_keys, args=argv)
        return await self._created(job, idempotency_key, reply, admission)

    async def create_many(self, jobs: Sequence[NewJob]) -> builtins.list[Created | JobStateConflict]:
        """`create` for many jobs, `CREATE_BATCH` per round trip (each job still one atomic step); per job,
        what `create` returns, or the JobStateConflict it would raise."""
        replies: builtins.list[Any] = []
        for first in range(0, len(jobs), CREATE_BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for new in jobs[first : first + CREATE_BATCH]:
                    script_keys, argv = self._create_call(
                        new.job, new.idempotency_key, new.duplicate_guard, new.message
                    )
                    await self._create(keys=script_keys, args=argv, client=pipe)
                replies += await pipe.execute()
        created: builtins.list[Created | JobStateConflict] = []
        for new, reply in zip(jobs, replies, strict=True):
            try:
                created.append(await self._created(new.job, new.idempotency_key, reply))
            except JobStateConflict as exc:
                created.append(exc)
        return created

    def _create_call(
        self,
        job: Job,
        idempotency_key: str | None,
        duplicate_guard: str | None,
        message: JobMessage | None,
        admission: Admission = NO_ADMISSION,
    ) -> tuple[builtins.list[str], builtins.list[Any]]:
        fields = to_hash_fields(**job.model_dump(exclude_defaults=True, exclude=_NOT_STORED_ON_CREATE))
        fields["max_attempts"] = str(job.max_attempts)  # read by the reclaim script, even when 1
        argv: builtins.list[Any] = [
            self.settings.queued_ttl_s,
            job.created_at.timestamp(),
            job.task_id,
            max(self.settings.queued_ttl_s, self.settings.result_ttl_s),
            IDEMPOTENCY_TTL_S,
            "1" if idempotency_key else "0",
            "1" if duplicate_guard else "0",
            keys.JOB_PREFIX,
            "1" if job.owner else "0",
            hashlib.sha256(json.dumps(job.request, sort_keys=True).encode()).hexdigest()
            if idempotency_key
            else "",
            json.dumps(keys.index_facets(job.owner, job.job_type, job.queue)),
            json.dumps(request_tokens(job.request)),
            message.payload if message else "",
            json.dumps(fields, ensure_ascii=False, separators=(",", ":")),
            *_start_time(job),
            admission.max_active,
            *admission.rate_args(),
        ]
        unused = keys.job(job.task_id)
        script_keys = [
            keys.job(job.task_id),
            keys.JOB_INDEX,
            keys.idempotency(job.owner or "", idempotency_key) if idempotency_key else unused,
            duplicate_guard or unused,
            keys.owner_jobs(job.owner) if job.owner else unused,
            keys.owner_active(job.owner) if job.owner else unused,
            message.stream if message else unused,
            keys.parked(job.task_id),
            keys.DELAYED,
            admission.rate_key or unused,
        ]
        return script_keys, argv

    async def _created(
        self,
        job: Job,
        idempotency_key: str | None,
        reply: builtins.list[Any],
        admission: Admission = NO_ADMISSION,
    ) -> Created:
        code = Reply(int(reply[0]))
        if code == Reply.APPLIED:
            return Created(job, created=True)
        if code == Reply.REFUSED:
            raise JobStateConflict(job.task_id, "exists", f"task id {job.task_id!r} is already taken")
        if code == Reply.MISMATCH:
            raise IdempotencyKeyReused(str(idempotency_key), reply[1])
        if code == Reply.OVER_QUOTA:
            raise RateLimited(
                f"this owner already has {admission.max_active} unfinished jobs (scheduled, queued, retrying "
                "or running; MAX_ACTIVE_JOBS): another is admitted once one of them ends",
                retry_after_s=5.0,  # a guess: when one of them ends is not known
            )
        if code == Reply.RATE_LIMITED:
            raise TooManySubmissions(float(reply[1]))
        reason: Literal["idempotent", "duplicate"] = "idempotent" if code == Reply.IDEMPOTENT else "duplicate"
        return Created(await self.get(reply[1]), created=False, reason=reason)

    # -- transitions ---------------------------------------------------------------------------------

    async def transition(
        self,
        task_id: str,
        *,
        allowed: Iterable[JobStatus],
        to: JobStatus | None = None,
        event: str = "status",
        attempts: int = 0,
        delivery: Delivery | None = None,
        run_id: str = "",
        dead_letter: str = "",
        release: Sequence[StagedFollowUp] = (),
        want_job: bool = True,
        **fields: Any,
    ) -> Transition:
        """Apply a change if the job's status is one of `allowed` (and `run_id` still owns it); the applied
        Transition carries the job after it if `want_job` (else only its status: less to send and parse).

        With a `delivery`, the job's stream entry is acknowledged and deleted in the same atomic step; with
        `dead_letter` (a reason) the job is also appended to the dead-letter stream; when the job thereby
        succeeds, the `release`d follow-ups' messages move onto their queues in that same step.
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
            script_keys += [delivery.stream, delivery.inflight, keys.DEAD_LETTERS]
        argv += [run_id, dead_letter if delivery is not None else ""]
        argv.append(json.dumps([[f.staged, f.stream] for f in release]) if release else "")
        argv.append(_outcome_tokens(fields))
        argv.append("1" if want_job else "0")
        for name, value in to_hash_fields(**fields).items():
            argv += [name, value]
        reply = await self._transition(keys=script_keys, args=argv)
        code = Reply(int(reply[0]))
        if code == Reply.MISSING:
            return Transition(applied=False, job=None, status=None)
        if code == Reply.LOST:
            return Transition(applied=False, job=None, status=None, lost=True)
        if code == Reply.REFUSED:
            return Transition(applied=False, job=None, status=JobStatus(reply[1]))
        if not want_job:
            return Transition(applied=True, job=None, status=JobStatus(reply[1]))
        job = _job_from_flat(reply[1])
        return Transition(applied=True, job=job, status=job.status)

    def _ttl_for(self, status: JobStatus) -> int:
        if status.terminal:
            return self.settings.result_ttl_s
        if status == JobStatus.RUNNING:
            return self.settings.progress_ttl_s
        return self.settings.queued_ttl_s

    async def start(self, task_id: str, delivery: Delivery, run_id: str) -> Transition:
        """A worker takes a delivered job: queued/retrying -> running, one more attempt, fenced by `run_id`.

        Refused (lost=True) when the delivery is no longer this consumer's (reclaimed meanwhile).
        """
        reply = await self._start(
            keys=[keys.job(task_id), keys.job_events(task_id), delivery.stream, delivery.inflight],
            args=[
                delivery.group,
                delivery.consumer,
                delivery.entry_id,
                run_id,
                self.settings.progress_ttl_s,
                utcnow().isoformat(),
                delivery.consumer,
                task_id,
            ],
        )
        code = Reply(int(reply[0]))
        if code == Reply.LOST:
            return Transition(applied=False, job=None, status=None, lost=True)
        if code == Reply.REFUSED:
            return Transition(applied=False, job=None, status=JobStatus(reply[1]) if reply[1] else None)
        job = _job_from_flat(reply[1])
        return Transition(applied=True, job=job, status=job.status)

    async def check_in(
        self, task_id: str, run_id: str, delivery: Delivery, *, renew: bool
    ) -> tuple[str, bool]:
        """A running job's heartbeat: ('ok' | 'lost' | its status, cancel requested); may renew the lease."""
        state, cancel = await self._touch(
            keys=[keys.job(task_id), delivery.stream, delivery.inflight],
            args=[
                run_id,
                "1" if renew else "0",
                delivery.group,
                delivery.consumer,
                delivery.entry_id,
                self.settings.progress_ttl_s,
            ],
        )
        return str(state), cancel == "1"

    async def report_progress(self, task_id: str, progress: Progress, run_id: str = "") -> Transition:
        return await self.transition(
            task_id,
            allowed=(JobStatus.RUNNING,),
            event="progress",
            run_id=run_id,
            want_job=False,
            progress=progress,
        )

    async def finish(
        self,
        task_id: str,
        to: JobStatus,
        *,
        delivery: Delivery,
        run_id: str,
        dead_letter: str = "",
        release: Sequence[StagedFollowUp] = (),
        **fields: Any,
    ) -> Transition:
        """End a run: running -> succeeded/failed/cancelled, acknowledging its message in the same step
        (and, on success, releasing its staged follow-ups onto their queues). The Transition has the status,
        not the job (read it with `get`)."""
        return await self.transition(
            task_id,
            allowed=(JobStatus.RUNNING,),
            to=to,
            delivery=delivery,
            run_id=run_id,
            dead_letter=dead_letter,
            release=release,
            want_job=False,
            finished_at=utcnow(),
            **fields,
        )

    async def retry_later(
        self, task_id: str, *, delivery: Delivery, run_id: str, delay_s: float, **fields: Any
    ) -> bool:
        """Park the job's message and mark it `retrying` until `delay_s` from now; False if no longer ours."""
        return await self._park("retry", task_id, delivery, run_id, delay_s, fields)

    async def defer(
        self, task_id: str, *, delivery: Delivery, run_id: str, delay_s: float, **fields: Any
    ) -> bool:
        """Park the job's message and mark it `scheduled` until `delay_s` from now, the run uncounted (it
        waits for its turn at a shared rate limit); False if no longer ours."""
        return await self._park("defer", task_id, delivery, run_id, delay_s, fields)

    async def _park(
        self, mode: str, task_id: str, delivery: Delivery, run_id: str, delay_s: float, fields: dict[str, Any]
    ) -> bool:
        due = time.time() + delay_s  # for display: the script counts the delay on Redis's clock
        argv: list[Any] = [
            delivery.group,
            delivery.entry_id,
            run_id,
            delay_s,
            self.settings.queued_ttl_s + int(delay_s),
            mode,
        ]
        fields["next_attempt_at"] = datetime.fromtimestamp(due, UTC)
        for name, value in to_hash_fields(**fields).items():
            argv += [name, value]
        reply = await self._retry_later(
            keys=[
                keys.job(task_id),
                keys.job_events(task_id),
                delivery.stream,
                delivery.inflight,
                keys.parked(task_id),
                keys.DELAYED,
            ],
            args=argv,
        )
        return bool(reply)

    async def await_children(
        self,
        task_id: str,
        *,
        delivery: Delivery,
        run_id: str,
        children: Sequence[str],
        children_stream: str,
        concurrency: int,
    ) -> bool:
        """Hand a parent over to its held children: release `concurrency` of them, acknowledge the parent's
        message; the parent finishes when its last child ends. False if the run no longer owns the job."""
        reply = await self._await_children(
            keys=[
                keys.job(task_id),
                keys.job_events(task_id),
                delivery.stream,
                delivery.inflight,
                keys.held(task_id),
                children_stream,
                keys.job_items(task_id),
            ],
            args=[
                delivery.group,
                delivery.entry_id,
                run_id,
                concurrency,
                json.dumps(list(children)),
                len(children),
                self.settings.queued_ttl_s,
                self.settings.result_ttl_s,
            ],
        )
        return bool(reply)

    async def promote_due(self, limit: int = 100) -> int:
        """Enqueue retries and scheduled jobs whose time has come (by Redis's clock); returns how many."""
        moved = await self._promote(
            keys=[keys.DELAYED],
            args=[
                "",
                limit,
                keys.JOB_PREFIX,
                keys.EVENTS_PREFIX,
                keys.PARKED_PREFIX,
                keys.STREAM_PREFIX,
                self.settings.queued_ttl_s,
            ],
        )
        return int(moved)

    async def reclaim(
        self, queue: str, group: str, *, min_idle_s: float, beating_for_s: float | None = None
    ) -> Requeued:
        """Requeue deliveries idle longer than `min_idle_s` (their worker stopped renewing: it died), in each
        of the queue's lanes. The lost run counts as an attempt; a job out of attempts is failed and
        dead-lettered. With `beating_for_s`, only deliveries of consumers whose liveness beats came without a
        break for that long (`jobcommon.liveness`: alive but wedged, while Redis answered them all along)."""
        args = () if beating_for_s is None else (keys.ALIVE_PREFIX, str(int(beating_for_s * 1000)))
        return await self._each_lane(queue, group, "reclaim", int(min_idle_s * 1000), args)

    async def orphan_suspects(self, queue: str, group: str) -> set[str]:
        """Consumers of the queue (any lane) that hold deliveries and whose liveness key is missing now."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for lane in Priority:
                pipe.xinfo_consumers(keys.stream(queue, lane), group)
            lanes: list[Any] = await pipe.execute(raise_on_error=False)
        holding = {
            str(c["name"])
            for consumers in lanes
            if not isinstance(consumers, ResponseError)  # no stream or group (yet)
            for c in consumers
            if int(c["pending"]) > 0 and c["name"] != RECLAIMER
        }
        if not holding:
            return set()
        named = sorted(holding)
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in named:
                pipe.exists(keys.alive(name))
            alive: list[int] = await pipe.execute()
        return {name for name, lives in zip(named, alive, strict=True) if not lives}

    async def reclaim_orphans(self, queue: str, group: str, consumers: Collection[str]) -> Requeued:
        """Requeue the deliveries of `consumers` whose process died (their liveness key expired; see
        `jobcommon.liveness`): seconds after a crash instead of a whole lease. Counted as attempts. Each is
        checked again here (in the step that requeues): one whose key is back keeps its deliveries."""
        if not consumers:
            return Requeued(0, 0, 0)
        return await self._each_lane(queue, group, "orphans", 0, (keys.ALIVE_PREFIX, *sorted(consumers)))

    async def release(self, queue: str, group: str, entry_ids: Sequence[str], priority: Priority) -> Requeued:
        """A stopping worker hands its deliveries (of one lane) back to the queue; the interrupted runs do
        not count."""
        if not entry_ids:
            return Requeued(0, 0, 0)
        return await self._run_requeue(queue, priority, group, "release", 0, entry_ids)

    async def _each_lane(
        self, queue: str, group: str, mode: str, min_idle_ms: int, args: Sequence[str]
    ) -> Requeued:
        counts = [await self._run_requeue(queue, lane, group, mode, min_idle_ms, args) for lane in Priority]
        return Requeued(
            sum(c.requeued for c in counts), sum(c.dead for c in counts), sum(c.dropped for c in counts)
        )

    async def _run_requeue(
        self,
        queue: str,
        priority: Priority,
        group: str,
        mode: str,
        min_idle_ms: int,
        entry_ids: Sequence[str],
    ) -> Requeued:
        reply = await self._requeue(
            keys=[keys.stream(queue, priority), keys.inflight(queue, priority), keys.DEAD_LETTERS],
            args=[
                group,
                mode,
                keys.JOB_PREFIX,
                keys.EVENTS_PREFIX,
                self.settings.queued_ttl_s,
                self.settings.result_ttl_s,
                utcnow().isoformat(),
                DEAD_LETTER_MAXLEN,
                queue,
                RECLAIMER,
                min_idle_ms,
                *entry_ids,
            ],
        )
        return Requeued(*(int(n) for n in reply))

    async def acknowledge(self, delivery: Delivery) -> None:
        """Acknowledge and delete a stream entry whose job needs nothing more (already ended or gone)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(delivery.stream, delivery.group, delivery.entry_id)
            pipe.xdel(delivery.stream, delivery.entry_id)
            await pipe.execute()

    async def record_item(self, task_id: str, index: int, result: dict[str, Any]) -> None:
        key = keys.job_items(task_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, str(index), json.dumps(result, separators=(",", ":")))
            pipe.expire(key, self.settings.progress_ttl_s + self.settings.result_ttl_s)
            await pipe.execute()

    async def items(self, task_id: str, offset: int, limit: int) -> builtins.list[dict[str, Any] | None]:
        """Per-item results `offset`..`offset+limit-1` of a bulk job (None where not finished yet)."""
        raw = cast(
            "list[str | None]",
            await self.redis.hmget(keys.job_items(task_id), [str(i) for i in range(offset, offset + limit)]),
        )
        return [json.loads(r) if r is not None else None for r in raw]

    # -- requests from clients -----------------------------------------------------------------------

    async def request_cancel(self, task_id: str) -> Job:
        """Cancel a job: at once when it waits, by request when it runs; refused when it has finished."""
        done = await self.transition(
            task_id,
            allowed=(JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.RETRYING),
            to=JobStatus.CANCELLED,
            finished_at=utcnow(),
            next_attempt_at=None,  # a waiting job is not tried again
        )
        if done.job is not None:
            await self.redis.zrem(keys.DELAYED, task_id)
            await self.redis.delete(keys.parked(task_id))
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

    async def reset_for_retry(self, task_id: str) -> Job:
        """A failed (or dead-lettered) job goes back to `queued` with a fresh attempt budget."""
        reset = await self.transition(
            task_id,
            allowed=(JobStatus.FAILED,),
            to=JobStatus.QUEUED,
            attempts=0,
            dead=False,
            finished_at=None,
            error=None,
            next_attempt_at=None,
            cancel_requested=False,
        )
        if reset.job is not None:
            await self.redis.hset(keys.job(task_id), "attempts", 0)
            return reset.job.model_copy(update={"attempts": 0})
        if reset.status is None:
            raise JobNotFound(task_id)
        raise JobStateConflict(
            task_id, reset.status, f"job is {reset.status.value}; only failed jobs can be retried"
        )
