"""The /jobs API."""

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from redis.exceptions import RedisError

from gateway.schemas import (
    DiskHealth,
    Health,
    ItemPage,
    JanitorHealth,
    JobList,
    Problem,
    ProgressResponse,
    RedisHealth,
    ResultResponse,
)
from jobcommon import JOB_TYPES, Job, JobClient, JobStatus, keys
from jobcommon.client import DeadLetter
from jobcommon.presence import live_services
from jobcommon.queue_stats import all_queue_stats

router = APIRouter(prefix="/jobs", tags=["jobs"])

if TYPE_CHECKING:
    from jobcommon import JobRequestBase as JobRequest
else:
    JobRequest = JOB_TYPES.request_union()
    """Every registered job type's request model (built-ins and plugins), `job_type` selecting the model."""

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Unknown or expired task id."}
}


def get_client(request: Request) -> JobClient:
    client: JobClient = request.app.state.client
    return client


Client = Annotated[JobClient, Depends(get_client)]


async def existing_job(task_id: str, client: Client) -> Job:
    return await client.get(task_id)


ExistingJob = Annotated[Job, Depends(existing_job)]
"""Resolved before a response starts, so a streaming endpoint can still answer 404."""


@router.post(
    "/submit",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses={
        200: {"model": Job, "description": "An earlier job was returned (see Mediajobs-Existing-Job)."}
    },
)
async def submit(
    job: Annotated[JobRequest, Body()],
    client: Client,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Job:
    """Queue a job. The body's `job_type` selects its fields; the answer is the queued job.

    With an `Idempotency-Key` header, repeating the request within 24 h returns the first job (200). The same
    download (URL and options) already queued or running is returned instead of starting it twice (200),
    unless `allow_duplicate` is set.
    """
    created = await client.submit(job, idempotency_key=idempotency_key)
    if not created.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Mediajobs-Existing-Job"] = created.reason
    return created.job


@router.get("/dead", response_model=list[DeadLetter])
async def dead_letters(client: Client, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DeadLetter]:
    """Jobs that ran out of attempts, newest first (retry one with POST /jobs/{task_id}/retry)."""
    return await client.dead_letters(limit)


@router.get("/list", response_model=JobList)
async def list_jobs(
    client: Client,
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
    job_type: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobList:
    """Jobs newest first, optionally filtered, with every queue's depth."""
    page = await client.list(status=job_status, job_type=job_type, limit=limit, offset=offset)
    queues = await all_queue_stats(client.redis)
    return JobList(jobs=page.jobs, next_offset=page.next_offset, queues={q.queue: q for q in queues})


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(client: Client, request: Request) -> JSONResponse:
    """Redis reachability and latency, every queue's numbers, the live service instances, and the janitor's
    leader and the last report of each of its duties."""
    started = time.perf_counter()
    try:
        await client.redis.ping()
        latency = (time.perf_counter() - started) * 1000
        queues = await all_queue_stats(client.redis)
        services = await live_services(client.redis)
        leader = cast("str | None", await client.redis.get(keys.JANITOR_LEADER))
        reports = cast("dict[str, str]", await client.redis.hgetall(keys.JANITOR_REPORT))
    except (RedisError, OSError) as exc:
        redis = RedisHealth(reachable=False, error=str(exc))
        down = Health(status="unavailable", redis=redis, queues={}, services=[])
        return JSONResponse(down.model_dump(mode="json"), status_code=503)
    body = Health(
        status="ok",
        redis=RedisHealth(reachable=True, latency_ms=round(latency, 3)),
        disk=await _disk(client.settings.media_root, request.app.state.settings.disk_low_free_bytes),
        queues={q.queue: q for q in queues},
        services=services,
        janitor=JanitorHealth.from_redis(leader, reports),
    )
    return JSONResponse(body.model_dump(mode="json"))


@router.get("/{task_id}/status", response_model=Job, responses=NOT_FOUND)
async def job_status(task_id: str, client: Client) -> Job:
    """The whole job record: status, progress, attempts, timestamps, error, result, trace id."""
    return await client.get(task_id)


@router.get("/{task_id}/progress", response_model=ProgressResponse, responses=NOT_FOUND)
async def job_progress(task_id: str, client: Client) -> ProgressResponse:
    job = await client.get(task_id)
    return ProgressResponse(task_id=task_id, status=job.status, **job.progress.model_dump())


@router.get(
    "/{task_id}/result",
    response_model=ResultResponse,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "The job has not succeeded (yet)."}},
)
async def job_result(task_id: str, client: Client) -> JSONResponse:
    job = await client.get(task_id)
    if job.status != JobStatus.SUCCEEDED:
        detail = f"job is {job.status.value}; a result exists only once it has succeeded"
        if job.error is not None:
            detail += f" ({job.error.type}: {job.error.message})"
        return JSONResponse({"detail": detail, "status": job.status.value}, status_code=409)
    body = ResultResponse(task_id=task_id, status=job.status, result=job.result or {})
    return JSONResponse(body.model_dump(mode="json"))


@router.post(
    "/{task_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "The job has already finished."}},
)
async def cancel(task_id: str, client: Client) -> Job:
    """Cancel: a queued job at once; a running job stops within a second (`cancel_requested` until then)."""
    return await client.cancel(task_id)


@router.post(
    "/{task_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "Only failed jobs can be retried."}},
)
async def retry(task_id: str, client: Client) -> Job:
    """Run a failed or dead-lettered job again, with a fresh attempt budget."""
    return await client.retry(task_id)


@router.get("/{task_id}/items", response_model=ItemPage, responses=NOT_FOUND)
async def job_items(
    task_id: str,
    job: ExistingJob,
    client: Client,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ItemPage:
    """A bulk job's per-item results, by item index (null where an item has not finished yet)."""
    total = job.progress.items_total or 0
    count = max(0, min(limit, total - offset))
    items = await client.store.items(task_id, offset, count) if count else []
    return ItemPage(task_id=task_id, total=total, offset=offset, items=items)


@router.get("/{task_id}/events", response_class=EventSourceResponse, responses=NOT_FOUND)
async def events(task_id: str, client: Client, _: ExistingJob) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: the current state, then each progress and status change, ending at the end."""
    async for event in client.events(task_id):
        yield ServerSentEvent(event=event.kind, data=event.job.model_dump(mode="json"))


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
