"""How errors become HTTP answers: RFC 9457 problem details (`application/problem+json`) with a reason for
every client error (4xx), and a 503 for a Redis outage that says nothing of hosts, ports or internals."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobcommon import JOB_TYPES, JobNotFound, JobStateConflict, QueueUnavailable
from jobcommon.errors import (
    ConnectionsBusy,
    Forbidden,
    IdempotencyKeyReused,
    RateLimited,
    ScheduleConflict,
    ScheduleNotFound,
    Unauthenticated,
)

log = logging.getLogger("mediajobs.gateway")

PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
}
UNAVAILABLE_RETRY = {"Retry-After": "5"}
"""What a 503 for a Redis outage tells the caller (health's too)."""
BUSY_TYPE = "urn:mediajobs:problem:gateway-busy"
"""The type of a 503 for a gateway whose every connection to Redis stayed in use for as long as a request may
wait for one (`ConnectionsBusy`): a burst of requests, not an outage; the job store itself may answer well.
Distinct from the plain 503 "the job store is unavailable" (type `about:blank`)."""
BUSY_TITLE = "Gateway Busy"
BUSY_RETRY = {"Retry-After": "1"}


def problem_response(
    status: int,
    title: str | None = None,
    detail: str = "",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
    }
    body |= {"detail": detail} if detail else {}
    return JSONResponse(body | extra, status_code=status, headers=headers, media_type=PROBLEM)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(404, detail=str(exc))


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    job_status = exc.status if isinstance(exc, JobStateConflict) else None
    return problem_response(409, detail=str(exc), job_status=job_status)


async def _unauthenticated(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(401, detail=str(exc), headers={"WWW-Authenticate": 'Bearer realm="mediajobs"'})


async def _forbidden(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(403, detail=str(exc))


async def _rate_limited(_: Request, exc: Exception) -> JSONResponse:
    wait = exc.retry_after_whole_s if isinstance(exc, RateLimited) else 1  # what its message says too
    return problem_response(429, detail=str(exc), headers={"Retry-After": str(wait)})


async def _idempotency(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(422, detail=str(exc))


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc.__cause__, ConnectionsBusy):  # a submission's QueueUnavailable, for a busy pool
        return await _busy(request, exc.__cause__)
    log.warning("%s %s: job store unavailable: %s", request.method, request.url.path, exc)
    return problem_response(503, detail="the job store is unavailable; try again", headers=UNAVAILABLE_RETRY)


MAX_ERRORS = 20
"""A 422 lists at most this many of a request's errors (`errors`), and says how many more there were
(`more_errors`): a body of 60 000 unknown fields costs a few milliseconds and a few kilobytes, not seconds
of the event loop and megabytes."""
INPUT_EXCERPT = 200
"""At most this many characters of one piece of the client's input (a value, a field's name) are quoted
back in an error."""
MAX_MSG = 1000
"""An error's `msg` is cut to this many characters."""
SUMMARIZED = 5
"""`detail` names this many of the errors."""


async def _busy(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: gateway busy (not a Redis outage): %s", request.method, request.url.path, exc)
    return problem_response(
        503,
        title=BUSY_TITLE,
        detail="the gateway is busy: every connection to the job store is in use; try again in a moment",
        headers=BUSY_RETRY,
        type=BUSY_TYPE,
    )


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """Validation errors, at the edge or deeper (e.g. a follow-up job in `then`), naming the bad fields:
    the first `MAX_ERRORS` of them, each quoting at most `INPUT_EXCERPT` characters of the input."""
    if isinstance(exc, ValidationError):
        errors: Sequence[Mapping[str, Any]] = exc.errors(include_url=False)
    elif isinstance(exc, RequestValidationError):
        errors = exc.errors()
    else:
        errors = []
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    job_types = frozenset(JOB_TYPES.names())
    cleaned = [_cleaned(_explained(e, media_type, job_types)) for e in errors[:MAX_ERRORS]]
    more = len(errors) - len(cleaned)
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in cleaned[:SUMMARIZED])
    if more:
        summary += f" (and {more} more: only the first {len(cleaned)} errors are listed)"
    extra: dict[str, Any] = {"more_errors": more} if more else {}
    return problem_response(422, detail=summary or "invalid request", errors=cleaned, **extra)


def _cleaned(error: Mapping[str, Any]) -> dict[str, Any]:
    """An error as the problem lists it (`loc`, `msg`, `type`), the client's input in it cut short."""
    loc = [part if isinstance(part, int) else _excerpt(str(part)) for part in error.get("loc", ())]
    msg = str(error.get("msg", ""))
    context = error.get("ctx")
    quoted = [error.get("input"), *(context.values() if isinstance(context, Mapping) else ())]
    for value in quoted:
        if isinstance(value, str) and len(value) > INPUT_EXCERPT and value in msg:
            msg = msg.replace(value, _excerpt(value))
    return {"loc": loc, "msg": _excerpt(msg, MAX_MSG), "type": str(error.get("type", ""))}


def _excerpt(text: str, limit: int = INPUT_EXCERPT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _explained(error: Mapping[str, Any], media_type: str, job_types: frozenset[str]) -> Mapping[str, Any]:
    """What pydantic says, made plainer where it misleads. An unknown field of a job request also names the
    fields that are there (pydantic says only "Extra inputs are not permitted"): `body.thumbnail.source:
    unknown field; thumbnail takes at_s, …, sources`. A body sent as another media type than JSON (FastAPI
    then reads it as text) says so, where pydantic says it "should be a valid dictionary"."""
    loc = tuple(error.get("loc", ()))
    if (
        loc == ("body",)
        and media_type
        and media_type != "application/json"
        and not media_type.endswith("+json")
    ):
        return {
            **error,
            "msg": f"the body must be JSON, sent as Content-Type: application/json (not {media_type})",
        }
    if error.get("type") != "extra_forbidden" or len(loc) < 3 or loc[0] != "body" or loc[1] not in job_types:
        return error
    model: Any = JOB_TYPES.get(str(loc[1])).request
    for part in loc[2:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        inner = [t for t in (field.annotation, *get_args(field.annotation)) if _is_model(t)] if field else []
        if not inner:
            return error
        model = inner[0]
    where = ".".join(str(part) for part in loc[1:-1])
    return {**error, "msg": f"unknown field; {where} takes {_field_names(model)}"}


@functools.cache
def _field_names(model: type[BaseModel]) -> str:
    """The fields a request model takes, as an unknown field's error lists them (once per model)."""
    return ", ".join(sorted(name for name in model.model_fields if name != "job_type"))


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(exc.status_code, detail=str(exc.detail), headers=exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(ValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(JobNotFound, _not_found)
    app.add_exception_handler(ScheduleNotFound, _not_found)
    app.add_exception_handler(JobStateConflict, _conflict)
    app.add_exception_handler(ScheduleConflict, _conflict)
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(IdempotencyKeyReused, _idempotency)
    app.add_exception_handler(ConnectionsBusy, _busy)  # a RedisError too: the closer class of its MRO wins
    app.add_exception_handler(QueueUnavailable, _unavailable)
    app.add_exception_handler(RedisError, _unavailable)
    app.add_exception_handler(OSError, _unavailable)
