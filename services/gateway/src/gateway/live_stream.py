"""GET /jobs/stream: every change of every job in the caller's scope, as one Server-Sent Event stream (the
dashboard's one connection), resumable with Last-Event-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.sse import EventSourceResponse, ServerSentEvent

from gateway.auth import Caller
from gateway.event_streams import EventStreams
from gateway.public_view import public_json
from gateway.revocable import while_key_valid
from gateway.routes import Scope
from gateway.schemas import Problem
from jobcommon import JobClient, JobStatus
from jobcommon.change_feed import valid_entry_id
from jobcommon.models import Job

router = APIRouter(prefix="/jobs", tags=["jobs"])


async def resume_point(
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    after: Annotated[
        str | None, Query(max_length=64, description="Resume after this event id (as Last-Event-ID).")
    ] = None,
) -> str | None:
    """The change id to resume after (Last-Event-ID, or `after`); 422 for anything else."""
    resume = last_event_id or after
    if resume is not None and not valid_entry_id(resume):
        problem = {"loc": ("header", "last-event-id"), "msg": "not an event id of this stream"}
        raise RequestValidationError([{**problem, "type": "value_error"}])
    return resume


def _visible(job: Job, scope: str | None) -> bool:
    return scope is None or job.owner == scope


@dataclass(frozen=True, slots=True)
class StreamQuery:
    """What a /jobs/stream request asks for, validated as a whole."""

    resume: str | None
    scope: str | None
    status: JobStatus | None
    job_type: str | None


async def stream_query(
    resume: Annotated[str | None, Depends(resume_point)],
    scope: Scope,  # 403 when a key other than an admin's names another owner
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
    job_type: Annotated[str | None, Query(max_length=100)] = None,
) -> StreamQuery:
    return StreamQuery(resume, scope, job_status, job_type)


async def stream_slot(
    request: Request, key: Caller, _: Annotated[StreamQuery, Depends(stream_query)]
) -> Callable[[], None]:
    """One of the capped event streams (shared with /jobs/{id}/events), taken before the response starts and
    only once the whole request is valid: FastAPI goes on solving the other dependencies of a request whose
    parameter failed validation (a 422), and a slot taken then was never given back (the stream that would
    release it never starts), so 20 bad requests used up a key's streams until a restart."""
    streams: EventStreams = request.app.state.event_streams
    return streams.admit(key.id)


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={429: {"model": Problem, "description": "Too many open event streams."}},
)
async def job_stream(
    request: Request,
    key: Caller,
    query: Annotated[StreamQuery, Depends(stream_query)],
    release: Annotated[Callable[[], None], Depends(stream_slot)],
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events `job` (id: the change's id; data: `{"kind": "status"|"progress", "job": Job}`,
    the job without its request and result) for every change of a job in the caller's scope, optionally
    narrowed by `status` and `job_type`. With Last-Event-ID (or `after`) the changes since that id come
    first. A comment keeps the connection alive every 15 s. Counted against the same caps as
    /jobs/{id}/events (429 beyond)."""
    try:
        client: JobClient = request.app.state.client
        async for change in while_key_valid(client.changes.listen(query.resume), request.app.state.keys, key):
            job = change.event.job
            if not _visible(job, query.scope):
                continue
            if (query.status is not None and job.status != query.status) or (
                query.job_type is not None and job.job_type != query.job_type
            ):
                continue
            data: dict[str, Any] = {"kind": change.event.kind, "job": public_json(job)}
            yield ServerSentEvent(event="job", id=change.id, data=data)
    finally:
        release()
