"""The /jobs API."""

import asyncio
import inspect
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from redis.exceptions import RedisError

from gateway import submit_examples
from gateway.api_keys import ApiKey, Role
from gateway.auth import Caller, OptionalCaller, Submitter
from gateway.event_streams import EventStreams
from gateway.id_search import LOOKED_AT, count_extra, jobs_by_id, merge
from gateway.idempotency_header import IdempotencyKey
from gateway.problems import UNAVAILABLE_RETRY, problem_response
from gateway.public_view import PublicJob, public_json
from gateway.refused_keys import RefusedKeys
from gateway.revocable import while_key_valid
from gateway.schemas import (
    DiskHealth,
    Health,
    HealthSummary,
    ItemPage,
    JanitorHealth,
    JobCounts,
    JobList,
    JobTypeInfo,
    Problem,
    ProgressResponse,
    RedisHealth,
    ResultResponse,
)
from gateway.task_id_path import TASK_ID
from jobcommon import JOB_TYPES, Admission, Job, JobClient, JobNotFound, JobStatus, keys
from jobcommon.errors import Forbidden, TooManySubmissions
from jobcommon.job_index import JobQuery
from jobcommon.metrics import CANCEL_REQUESTS, JOBS_SUBMITTED
from jobcommon.presence import live_services
from jobcommon.queue_stats import all_queue_stats
from jobcommon.search_tokens import MAX_QUERY_LENGTH, query_tokens
from jobcommon.task_id_patterns import IdPattern, id_pattern

log = logging.getLogger("mediajobs.gateway")

router = APIRouter(prefix="/jobs", tags=["jobs"])

if TYPE_CHECKING:
    from jobcommon import JobRequestBase as JobRequest
else:
    JobRequest = JOB_TYPES.request_union()
    """Every registered job type's request model (built-ins and plugins), `job_type` selecting the model."""

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Unknown or expired task id."}
}


async def get_client(request: Request) -> JobClient:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request
    client: JobClient = request.app.state.client
    return client


Client = Annotated[JobClient, Depends(get_client)]


async def existing_job(task_id: str, client: Client, key: Caller) -> Job:
    """The job, if the caller may see it: another owner's job answers 404, exactly like an unknown one."""
    job = await client.get(task_id)
    if not key.sees(job):
        raise JobNotFound(task_id)
    return job


ExistingJob = Annotated[Job, Depends(existing_job)]
"""Resolved before a response starts, so a streaming endpoint can still answer 404."""


def _admission(request: Request, key: ApiKey) -> Admission:
    """The key's submission rate and its owner's quota of live jobs (429 with Retry-After beyond either),
    both checked by the very step that creates the job."""
    return Admission(
        max_active=request.app.state.settings.max_active_jobs,
        rate_key=keys.submit_rate(key.id),
        rate=request.app.state.submit_rate,
    )


async def admitted_submitter(key: Submitter, request: Request, client: Client) -> ApiKey:
    """The submitting key, unless it is known to be over its submission rate: then 429 at once, before the
    body is validated (see `gateway.refused_keys`), except for the replay of an earlier submission (its
    Idempotency-Key is known: the create step answers it with the first job)."""
    refused: RefusedKeys = request.app.state.refused_keys
    if wait := refused.wait_s(key.id):
        replayed = request.headers.get("idempotency-key")
        if not replayed or not await client.redis.exists(keys.idempotency(key.owner, replayed)):
            raise TooManySubmissions(wait)
    return key


@router.post(
    "/submit",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PublicJob,
    responses={
        200: {"model": PublicJob, "description": "An earlier job was returned (see Mediajobs-Existing-Job)."}
    },
    openapi_extra=submit_examples.openapi_extra(JOB_TYPES),
)
async def submit(
    job: Annotated[JobRequest, Body()],
    client: Client,
    key: Annotated[ApiKey, Depends(admitted_submitter)],
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> Job:
    """Queue a job. The body's `job_type` selects its fields; the answer is the queued job.

    With an `Idempotency-Key` header, repeating the request within 24 h returns the first job (200). The same
    download (URL and options) of the same owner already queued or running is returned instead of starting
    it twice (200), unless `allow_duplicate` is set; while the key is refused for its rate (429), that answer
    waits too.
    """
    try:
        created = await client.submit(
            job, idempotency_key=idempotency_key, owner=key.owner, admission=_admission(request, key)
        )
    except TooManySubmissions as exc:
        request.app.state.refused_keys.refuse(key.id, exc.retry_after_s)
        raise
    if not created.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Mediajobs-Existing-Job"] = created.reason
    else:
        JOBS_SUBMITTED.labels(created.job.job_type).inc()
    return created.job


def invalid(name: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": "value_error"}])


def _utc_epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def search(q: str | None, loc: tuple[str, ...] = ("query", "q")) -> tuple[str, ...]:
    """The tokens of a search text (none for none); 422 with the reason when it cannot be searched."""
    if q is None or not q.strip():
        return ()
    try:
        return tuple(query_tokens(q))
    except ValueError as exc:
        raise RequestValidationError([{"loc": loc, "msg": str(exc), "type": "value_error"}]) from None


def scope_of(key: ApiKey, owner: str | None) -> str | None:
    """Whose jobs the caller sees: its own; an admin's: everyone's (None), or one `owner`'s.

    Raises Forbidden (403) when a key of another role names another owner than its own: a filter it may not
    apply is refused rather than ignored (the caller would take its own jobs for that owner's)."""
    if key.role == Role.ADMIN:
        return owner
    if owner is not None and owner != key.owner:
        raise Forbidden(
            f"only admin keys may list other owners' jobs; this {key.role} key sees the jobs of owner "
            f"{key.owner!r} only (leave out owner, or give {key.owner!r})"
        )
    return key.owner


async def owner_scope(
    key: Caller,
    owner: Annotated[
        str | None,
        Query(max_length=64, description="Admins only: one owner's jobs (other keys: their own, else 403)."),
    ] = None,
) -> str | None:
    """The `owner` query parameter as a scope (see `scope_of`): 403 for another owner than a key's own."""
    return scope_of(key, owner)


Scope = Annotated[str | None, Depends(owner_scope)]


@dataclass(frozen=True, slots=True)
class Listing:
    """A listing request's filter, and the task id its search text reads as (see `gateway.id_search`)."""

    query: JobQuery
    by_id: IdPattern | None


async def job_query(
    scope: Scope,
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
    job_type: Annotated[str | None, Query(max_length=100)] = None,
    queue: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[datetime | None, Query(description="Created at or after (ISO-8601).")] = None,
    until: Annotated[datetime | None, Query(description="Created at or before (ISO-8601).")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_QUERY_LENGTH,
            description="Search text: every word must be in the job's URL, title or error text (the last "
            "word also as a prefix); case-insensitive. A text that reads as a task id also finds the "
            "job(s) with that id: the whole id (32 hex digits), or its first 4+ digits or as the dashboard "
            f"shortens it, `7ffd509e…0bed` (also `...`), among the {LOOKED_AT} newest jobs in the caller's "
            "scope.",
        ),
    ] = None,
) -> Listing:
    """The listing filter of a request, within the caller's scope (and the task id its search text names)."""
    if job_type is not None and job_type not in JOB_TYPES.names():
        raise invalid("job_type", f"unknown job type {job_type!r}")
    if queue is not None and queue not in {spec.queue for spec in JOB_TYPES.queues()}:
        raise invalid("queue", f"unknown queue {queue!r}")
    low, high = _utc_epoch(since), _utc_epoch(until)
    if low is not None and high is not None and low > high:
        raise invalid("since", "since is after until")
    query = JobQuery(
        owner=scope,
        status=job_status,
        job_type=job_type,
        queue=queue,
        since=low,
        until=high,
        tokens=search(q),
    )
    return Listing(query, id_pattern(q))


Filter = Annotated[Listing, Depends(job_query)]


@router.get("/list", response_model=JobList)
async def list_jobs(
    client: Client,
    listing: Filter,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
) -> JobList:
    """Jobs newest first (the caller's own; an admin's: everyone's, or one `owner`'s), optionally filtered
    and searched, with every queue's depth. Page on with `cursor` (or `offset`). A page may hold fewer than
    `limit` jobs and still a `next_cursor` when a filter matches rarely: each call looks at a bounded
    number of index entries. The last page has no `next_cursor` (nor `next_offset`). A `q` that reads as a
    task id also lists the jobs with that id, in their place among the others (page on with `cursor`)."""
    if cursor and offset:
        raise invalid("offset", "give either cursor or offset, not both")
    query, by_id = listing.query, listing.by_id
    if by_id is not None and offset:
        raise invalid("offset", "a search for a task id pages on with cursor (next_cursor), not offset")
    try:
        page = await client.store.search(query, limit=limit, cursor=cursor, offset=offset)
    except ValueError as exc:
        raise invalid("cursor", str(exc)) from None
    jobs, next_offset, next_cursor = page.jobs, page.next_offset, page.next_cursor
    if by_id is not None:
        named = [j for j in await jobs_by_id(client, query, by_id) if query.status in (None, j.status)]
        merged = merge(page.jobs, page.next_cursor, named, cursor, limit)
        jobs, next_offset, next_cursor = merged.jobs, None, merged.next_cursor
    queues = await all_queue_stats(client.redis)
    return JobList(
        jobs=jobs, next_offset=next_offset, next_cursor=next_cursor, queues={q.queue: q for q in queues}
    )


@router.get("/counts", response_model=JobCounts)
async def count_jobs(client: Client, listing: Filter) -> JobCounts:
    """How many jobs (in the caller's scope) match the filter, per status and in all (`status` is ignored).
    With `q` the counts come from a bounded walk: `approximate` says they are a lower bound. A `q` that
    reads as a task id counts the jobs with that id too (each job once)."""
    query, by_id = listing.query, listing.by_id
    counts = await client.store.index.counts(query)
    numbers, total = dict(counts.counts), counts.total
    if by_id is not None:
        for name, extra in count_extra(await jobs_by_id(client, query, by_id), query.tokens).items():
            numbers[name] += extra
            total += extra
    return JobCounts(counts=numbers, total=total, approximate=counts.approximate)


@router.get("/types", response_model=list[JobTypeInfo])
async def job_types(_: Caller) -> list[JobTypeInfo]:
    """Every job type this deployment accepts (built-ins and plugins): its queue, what it does, the JSON
    schema of its request (what a submit form is generated from) and its attempt budget."""
    return [
        JobTypeInfo(
            name=declared.name,
            queue=declared.queue.queue,
            description=inspect.cleandoc(declared.request.__doc__ or ""),
            json_schema=declared.request.model_json_schema(),
            max_attempts=declared.policy.max_attempts,
        )
        for declared in JOB_TYPES.all()
    ]


@router.get(
    "/health",
    response_model=Health | HealthSummary,
    responses={503: {"model": Health | HealthSummary}},
)
async def health(client: Client, request: Request, key: OptionalCaller) -> JSONResponse:
    """Without an admin key: only `status` (a liveness answer anyone may ask for). With one: Redis
    reachability and latency, every queue's numbers, the live service instances, and the janitor's leader
    and the last report of each of its duties. 503 (with Retry-After) when Redis does not answer within
    REDIS_REQUEST_TIMEOUT_S (2 s): a load balancer's probe never hangs."""
    started = time.perf_counter()
    if key is None or key.role != Role.ADMIN:
        try:
            await client.redis.ping()
        except (RedisError, OSError):
            summary = HealthSummary(status="unavailable").model_dump()
            return JSONResponse(summary, status_code=503, headers=UNAVAILABLE_RETRY)
        return JSONResponse(HealthSummary(status="ok").model_dump())
    try:
        await client.redis.ping()
        latency = (time.perf_counter() - started) * 1000
        queues = await all_queue_stats(client.redis)
        services = await live_services(client.redis)
        leader = cast("str | None", await client.redis.get(keys.JANITOR_LEADER))
        reports = cast("dict[str, str]", await client.redis.hgetall(keys.JANITOR_REPORT))
    except (RedisError, OSError) as exc:
        log.warning("health: Redis unreachable: %s", exc)
        redis = RedisHealth(reachable=False, error="unreachable")
        down = Health(status="unavailable", redis=redis, queues={}, services=[])
        return JSONResponse(down.model_dump(mode="json"), status_code=503, headers=UNAVAILABLE_RETRY)
    body = Health(
        status="ok",
        redis=RedisHealth(reachable=True, latency_ms=round(latency, 3)),
        disk=await _disk(client.settings.media_root, request.app.state.settings.disk_low_free_bytes),
        queues={q.queue: q for q in queues},
        services=services,
        janitor=JanitorHealth.from_redis(leader, reports),
    )
    return JSONResponse(body.model_dump(mode="json"))


@router.get(f"/{TASK_ID}/status", response_model=PublicJob, responses=NOT_FOUND)
async def job_status(job: ExistingJob) -> Job:
    """The whole job record: status, progress, attempts, timestamps, error, result, trace id."""
    return job


@router.get(f"/{TASK_ID}/progress", response_model=ProgressResponse, responses=NOT_FOUND)
async def job_progress(task_id: str, job: ExistingJob) -> ProgressResponse:
    return ProgressResponse(task_id=task_id, status=job.status, **job.progress.model_dump())


@router.get(
    f"/{TASK_ID}/result",
    response_model=ResultResponse,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "The job has not succeeded (yet)."}},
)
async def job_result(task_id: str, job: ExistingJob) -> JSONResponse:
    if job.status != JobStatus.SUCCEEDED:
        detail = f"job is {job.status.value}; a result exists only once it has succeeded"
        if job.error is not None:
            detail += f" ({job.error.type}: {job.error.message})"
        return problem_response(409, detail=detail, job_status=job.status.value)
    body = ResultResponse(task_id=task_id, status=job.status, result=job.result or {})
    return JSONResponse(body.model_dump(mode="json"))


@router.post(
    f"/{TASK_ID}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PublicJob,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "The job has already finished."}},
)
async def cancel(task_id: str, client: Client, _: ExistingJob, __: Submitter) -> Job:
    """Cancel: a queued job at once; a running job stops within a second (`cancel_requested` until then)."""
    job = await client.cancel(task_id)
    CANCEL_REQUESTS.labels(job.status.value).inc()
    return job


@router.post(
    f"/{TASK_ID}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PublicJob,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "Only failed jobs can be retried."}},
)
async def retry(task_id: str, client: Client, _: ExistingJob, __: Submitter) -> Job:
    """Run a failed or dead-lettered job again, with a fresh attempt budget."""
    return await client.retry(task_id)


@router.get(f"/{TASK_ID}/items", response_model=ItemPage, responses=NOT_FOUND)
async def job_items(
    task_id: str,
    job: ExistingJob,
    client: Client,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ItemPage:
    """A bulk or playlist job's per-item results, by item index: null where a bulk item has not finished
    yet; a playlist's entries are listed from the start (queued, running with progress, their outcome)."""
    total = job.progress.items_total or 0
    count = max(0, min(limit, total - offset))
    items = await client.store.items(task_id, offset, count) if count else []
    return ItemPage(task_id=task_id, total=total, offset=offset, items=items)


async def event_stream_slot(request: Request, key: Caller, _: ExistingJob) -> Callable[[], None]:
    """One of the capped event streams, taken before the response starts (so a refusal is a real 429)."""
    streams: EventStreams = request.app.state.event_streams
    return streams.admit(key.id)


@router.get(
    f"/{TASK_ID}/events",
    response_class=EventSourceResponse,
    responses={**NOT_FOUND, 429: {"model": Problem, "description": "Too many open event streams."}},
)
async def events(
    task_id: str,
    request: Request,
    client: Client,
    key: Caller,
    release: Annotated[Callable[[], None], Depends(event_stream_slot)],
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: the current state, then each progress and status change, ending at the end (or
    within a second of the key's revocation). Open streams are capped per key and in all (429 beyond)."""
    try:
        async for event in while_key_valid(client.events(task_id), request.app.state.keys, key):
            yield ServerSentEvent(event=event.kind, data=public_json(event.job))
    finally:
        release()


async def _disk(path: Path, low_below: int) -> DiskHealth:
    try:
        usage = await asyncio.to_thread(shutil.disk_usage, _existing(path))
    except OSError as exc:
        return DiskHealth(path=str(path), error=str(exc))
    return DiskHealth(
        path=str(path), free_bytes=usage.free, total_bytes=usage.total, low=usage.free < low_below
    )


def _existing(path: Path) -> Path:
    """`path`, or its nearest existing ancestor (MEDIA_ROOT is created by the first job that writes)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path
