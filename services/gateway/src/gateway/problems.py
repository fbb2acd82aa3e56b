"""How errors become HTTP answers: RFC 9457 problem details (`application/problem+json`) with a reason for
every client error (4xx), and a 503 for a Redis outage that says nothing of hosts, ports or internals."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, get_args

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobcommon import JOB_TYPES, JobNotFound, JobStateConflict, QueueUnavailable
from jobcommon.errors import (
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
    wait = exc.retry_after_s if isinstance(exc, RateLimited) else 1.0
    return problem_response(429, detail=str(exc), headers={"Retry-After": str(max(1, round(wait + 0.5)))})


async def _idempotency(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(422, detail=str(exc))


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: job store unavailable: %s", request.method, request.url.path, exc)
    return problem_response(503, detail="the job store is unavailable; try again", headers=UNAVAILABLE_RETRY)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """Validation errors, at the edge or deeper (e.g. a follow-up job in `then`), naming the bad fields."""
    if isinstance(exc, ValidationError | RequestValidationError):
        errors = (
            exc.errors(include_url=False, include_context=False)
            if isinstance(exc, ValidationError)
            else exc.errors()
        )
    else:
        errors = []
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    cleaned: list[dict[str, Any]] = [
        {k: v for k, v in _explained(e, media_type).items() if k in ("loc", "msg", "type")} for e in errors
    ]
    summary = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in cleaned[:5])
    return problem_response(422, detail=summary or "invalid request", errors=jsonable_encoder(cleaned))


def _explained(error: Mapping[str, Any], media_type: str) -> Mapping[str, Any]:
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
    if (
        error.get("type") != "extra_forbidden"
        or len(loc) < 3
        or loc[0] != "body"
        or loc[1] not in JOB_TYPES.names()
    ):
        return error
    model: Any = JOB_TYPES.get(str(loc[1])).request
    for part in loc[2:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        inner = [t for t in (field.annotation, *get_args(field.annotation)) if _is_model(t)] if field else []
        if not inner:
            return error
        model = inner[0]
    where = ".".join(str(part) for part in loc[1:-1])
    fields = ", ".join(sorted(name for name in model.model_fields if name != "job_type"))
    return {**error, "msg": f"unknown field; {where} takes {fields}"}


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
    app.add_exception_handler(QueueUnavailable, _unavailable)
    app.add_exception_handler(RedisError, _unavailable)
    app.add_exception_handler(OSError, _unavailable)
