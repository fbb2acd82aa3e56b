"""How errors become HTTP answers: every client error gets a 4xx with a reason; Redis outages a 503."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import RedisError

from jobcommon import JobNotFound, JobStateConflict, QueueUnavailable


def _body(detail: str, status: str | None = None) -> dict[str, str]:
    return {"detail": detail} | ({"status": status} if status else {})


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(_body(str(exc)), status_code=404)


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, JobStateConflict) else None
    return JSONResponse(_body(str(exc), status), status_code=409)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(_body(f"job store unavailable: {exc}"), status_code=503, headers={"Retry-After": "5"})


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    """A request that validated at the edge but not deeper (e.g. a follow-up job in `then`)."""
    errors = exc.errors(include_url=False, include_context=False) if isinstance(exc, ValidationError) else []
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ValidationError, _invalid)
    app.add_exception_handler(JobNotFound, _not_found)
    app.add_exception_handler(JobStateConflict, _conflict)
    app.add_exception_handler(QueueUnavailable, _unavailable)
    app.add_exception_handler(RedisError, _unavailable)
    app.add_exception_handler(OSError, _unavailable)
