"""Submitting a job: validate, record, enqueue — the one path used by clients and by workers (follow-ups,
children), so every job gets the same record, routing, policy, duplicate guard and trace context."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from redis.exceptions import RedisError

from jobcommon import job_spans, keys
from jobcommon.admission import Admission
from jobcommon.cancellation import reraise_if_cancelling
from jobcommon.errors import JobStateConflict, QueueUnavailable
from jobcommon.job_types import JOB_TYPES
from jobcommon.messages import DATA_FIELD, job_message
from jobcommon.models import Job, JobStatus, utcnow
from jobcommon.policies import policy_for
from jobcommon.requests import AnyJobRequest
from jobcommon.store import NewJob, StagedFollowUp
from jobcommon.tracing import current_trace_id

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from opentelemetry.trace import Span
    from redis.asyncio import Redis

    from jobcommon.queues import QueueSpec
    from jobcommon.store import Created, JobStore

SOURCE_FIELDS = ("sources", "items")
"""Fields through which a follow-up job receives its parent's output (the parent's task id)."""
_ANY_PARENT = "0" * 32
"""Stands for the parent in a follow-up validated before its parent exists (in its source field)."""


MAX_FOLLOW_UP_DEPTH = 4
"""`then` may nest this deep (a follow-up of a follow-up of ...)."""
MAX_FOLLOW_UPS = 32
"""A request names at most this many follow-ups in all, at every depth."""


def parse_request(request: AnyJobRequest | dict[str, Any]) -> AnyJobRequest:
    """Validate a request and its whole tree of follow-ups (at most `MAX_FOLLOW_UP_DEPTH` deep and
    `MAX_FOLLOW_UPS` in all); raises pydantic.ValidationError naming the bad field's path
    (e.g. `then.0.then.1.job_type`)."""
    if isinstance(request, dict):
        request = JOB_TYPES.parse(request)
    _check_follow_ups(request, ("then",), 1, [0])
    return request


def _check_follow_ups(
    request: AnyJobRequest, path: tuple[str | int, ...], depth: int, seen: list[int]
) -> None:
    for index, spec in enumerate(request.then):
        where = (*path, index)
        seen[0] += 1
        if depth > MAX_FOLLOW_UP_DEPTH:
            raise _invalid(where, f"follow-ups may nest at most {MAX_FOLLOW_UP_DEPTH} deep")
        if seen[0] > MAX_FOLLOW_UPS:
            raise _invalid(where, f"at most {MAX_FOLLOW_UPS} follow-ups in all")
        try:
            follow_up = follow_up_request(spec, parent_id=_ANY_PARENT)
        except ValidationError as exc:
            raise ValidationError.from_exception_data(
                "follow-up",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("follow_up", "{msg}", {"msg": error["msg"]}),
                        loc=(*where, *error["loc"]),
                        input=None,
                    )
                    for error in exc.errors(include_url=False)
                ],
            ) from None
        if follow_up.run_at is not None or follow_up.delay_s is not None:
            raise _invalid(where, "a follow-up starts when its parent succeeds: no run_at or delay_s")
        _check_follow_ups(follow_up, (*where, "then"), depth + 1, seen)


def _invalid(loc: tuple[str | int, ...], message: str) -> ValidationError:
    return ValidationError.from_exception_data(
        "follow-up", [InitErrorDetails(type=PydanticCustomError("follow_up", message), loc=loc, input=None)]
    )


def follow_up_request(spec: dict[str, Any], parent_id: str) -> AnyJobRequest:
    """A follow-up job's request, fed the parent's output through its source field if it names none.

    Fed before it is validated: a job type whose source field may not be empty (nothing would fill it at the
    top) takes a follow-up that leaves it out."""
    data = dict(spec)
    try:
        fields = JOB_TYPES.get(str(data.get("job_type"))).request.model_fields
    except KeyError:
        fields = {}  # no such job type: validation below says so
    for name in SOURCE_FIELDS:
        if name in fields and not data.get(name):
            data[name] = [parent_id]
            break
    return JOB_TYPES.parse(data)


def canonical_follow_ups(specs: Sequence[dict[str, Any]]) -> list[str]:
    """A `then` list in a form that compares as the work it asks for (for a duplicate fingerprint): each
    follow-up as the JSON of its validated request (defaults left out, keys sorted, its own follow-ups in this
    same form), the list sorted. The same follow-ups, however spelled or ordered, give the same list."""
    canonical: list[str] = []
    for spec in specs:
        try:
            data = follow_up_request(spec, parent_id=_ANY_PARENT).compact()
        except ValueError:  # not validated (parse_request was not called): compared as written
            data = dict(spec)
        else:
            if data.get("then"):
                data["then"] = canonical_follow_ups(data["then"])
        canonical.append(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str))
    return sorted(canonical)


def child_id(parent_id: str, index: int) -> str:
    """Deterministic: a parent that runs again (after a crash) finds its children instead of doubling them."""
    return hashlib.sha256(f"{parent_id}:{index}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Submission:
    """One job to submit with `submit_many` (what `submit_job` takes besides the store)."""

    request: AnyJobRequest | dict[str, Any]
    task_id: str | None = None
    parent_id: str | None = None
    child_index: int | None = None
    stream: str | None = None
    owner: str | None = None


async def submit_job(
    store: JobStore,
    request: AnyJobRequest | dict[str, Any],
    *,
    task_id: str | None = None,
    idempotency_key: str | None = None,
    parent_id: str | None = None,
    child_index: int | None = None,
    stream: str | None = None,
    owner: str | None = None,
    admission: Admission | None = None,
) -> Created:
    """Validate, record and enqueue a job (see JobClient.submit): its record and its message are written in
    one atomic step. `stream` overrides where its message goes (a follow-up's staging stream, a parent's
    held children); `admission`'s quota and rate, checked in that same step, may refuse it (RateLimited)."""
    task_id = task_id or uuid.uuid4().hex
    one = Submission(request, task_id, parent_id, child_index, stream, owner)
    request, spec = _parse(one)
    with job_spans.creating(task_id, request.job_type, spec, owner, sent=False) as span:
        job = _record(one, request, spec, span)
        message = await job_message(request, job.task_id, stream or JOB_TYPES.stream_of(request))
        with _unavailable_as_queue_error():
            made = await store.create(
                job,
                idempotency_key=idempotency_key,
                duplicate_guard=_duplicate_guard(request, owner),
                message=message,
                admission=admission,
            )
        if made.created:
            _sent(span, one, job)
        return made


async def submit_many(store: JobStore, submissions: Sequence[Submission]) -> list[Created | JobStateConflict]:
    """`submit_job` for a batch, in one round trip to Redis (each job still recorded and enqueued in one
    atomic step): validates every request first (a pydantic.ValidationError for any bad one submits none),
    then returns, per submission in order, what `submit_job` returns or the JobStateConflict it would raise.
    Each job gets its own creation span, a child of the current span."""
    submissions = [one if one.task_id else replace(one, task_id=uuid.uuid4().hex) for one in submissions]
    parsed = [_parse(one) for one in submissions]
    spans: list[Span] = []
    batch: list[NewJob] = []
    try:
        for one, (request, spec) in zip(submissions, parsed, strict=True):
            span = job_spans.start_creating(str(one.task_id), request.job_type, spec, one.owner, sent=False)
            spans.append(span)
            job = _record(one, request, spec, span)
            message = await job_message(
                request, job.task_id, one.stream or JOB_TYPES.stream_of(request), span
            )
            batch.append(NewJob(job, message=message, duplicate_guard=_duplicate_guard(request, one.owner)))
        with _unavailable_as_queue_error():
            made = await store.create_many(batch)
        for span, one, new, answer in zip(spans, submissions, batch, made, strict=True):
            if not isinstance(answer, JobStateConflict) and answer.created:
                _sent(span, one, new.job)
        return made
    finally:
        for span in spans:
            span.end()


@contextlib.contextmanager
def _unavailable_as_queue_error() -> Iterator[None]:
    """Redis refused or could not be reached: QueueUnavailable (the job's record and message are written in
    one step, so nothing of a job that raised it was written)."""
    try:
        yield
    except (RedisError, OSError) as exc:
        reraise_if_cancelling(exc)
        raise QueueUnavailable(f"could not submit the job: {exc}") from exc


def _parse(one: Submission) -> tuple[AnyJobRequest, QueueSpec]:
    """The validated request and its queue."""
    request = parse_request(one.request)
    return request, JOB_TYPES.of(request).queue


def _sent(span: Span, one: Submission, job: Job) -> None:
    """A job made and queued at once was sent; a staged, held or scheduled one was created now, to be sent
    later (and one not made at all — a replay, a duplicate — sent nothing)."""
    if one.stream is None and job.status == JobStatus.QUEUED:
        span.set_attribute("messaging.operation.type", "send")


def _duplicate_guard(request: AnyJobRequest, owner: str | None) -> str | None:
    """The key that keeps a second job of `owner` from doing the same live work, if the request has one."""
    fingerprint = request.duplicate_fingerprint()
    return keys.duplicate_guard(request.job_type, fingerprint, owner) if fingerprint else None


def _record(one: Submission, request: AnyJobRequest, spec: QueueSpec, span: Span) -> Job:
    """The new job's record (`queued`, or `scheduled` until its `run_at` / `delay_s`), in the trace of its
    creation `span`."""
    policy = policy_for(request.job_type, request.retry, request.time_limit)
    now = utcnow()
    delay = request.start_delay_s(now) if one.stream is None else 0.0  # a staged or held job is sent later
    return Job(
        task_id=str(one.task_id),
        job_type=request.job_type,
        queue=spec.queue,
        priority=JOB_TYPES.priority_of(request),
        status=JobStatus.SCHEDULED if delay else JobStatus.QUEUED,
        next_attempt_at=now + timedelta(seconds=delay) if delay else None,
        max_attempts=policy.max_attempts,
        created_at=now,
        trace_id=current_trace_id(span),
        parent_id=one.parent_id,
        child_index=one.child_index,
        owner=one.owner,
        request=request.compact(),
    )


async def enqueue(redis: Redis, request: AnyJobRequest, task_id: str, stream: str | None = None) -> None:
    """Add the message of an existing job (a retry of a failed one) to its queue; the current span's context
    travels in its headers, and stays with it through retries and requeues (they copy the stream entry)."""
    message = await job_message(request, task_id, stream or JOB_TYPES.stream_of(request))
    await redis.xadd(message.stream, {DATA_FIELD: message.payload})


async def stage_follow_ups(store: JobStore, parent: Job, request: AnyJobRequest) -> list[StagedFollowUp]:
    """Create the parent's follow-up jobs with their messages staged, not queued: `JobStore.finish` releases
    them in the very step that records the parent's success, so no follow-up can start before its parent has
    ended (and its output is on record). Once: ids are derived from the parent's, so a parent that runs again
    finds the follow-ups (and staged messages) an earlier run made."""
    staged: list[StagedFollowUp] = []
    for index, spec in enumerate(request.then):
        task_id = child_id(parent.task_id, index)
        follow_up = follow_up_request(spec, parent.task_id)
        target = JOB_TYPES.stream_of(follow_up)
        try:
            made = await submit_job(
                store,
                follow_up,
                task_id=task_id,
                parent_id=parent.task_id,
                stream=keys.staged(task_id),
                owner=parent.owner,
            )
        except JobStateConflict:  # made by an earlier run of the parent: its message is still staged
            staged.append(StagedFollowUp(task_id, keys.staged(task_id), target))
            continue
        if made.created:
            staged.append(StagedFollowUp(task_id, keys.staged(task_id), target))
        else:  # the same work is already queued or running (duplicate guard): that job is the follow-up
            staged.append(StagedFollowUp(made.job.task_id, "", target))
    return staged


async def discard_staged_follow_ups(store: JobStore, parent: Job, request: AnyJobRequest) -> int:
    """A parent that ends without succeeding drops follow-ups an earlier run of it staged (it crashed between
    staging and succeeding): they were never queued nor linked, and a later retry of the parent makes them
    anew. Returns how many were dropped."""
    dropped = 0
    for index in range(len(request.then)):
        task_id = child_id(parent.task_id, index)
        if not await store.redis.exists(keys.staged(task_id)):
            continue
        job_key = keys.job(task_id)
        dedupe = await store.redis.hget(job_key, "dedupe_key")
        async with store.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.staged(task_id), job_key)
            if dedupe:
                pipe.delete(dedupe)
            await pipe.execute()
        await store.index.forget([task_id])  # every listing and search entry of the dropped record
        dropped += 1
    return dropped
