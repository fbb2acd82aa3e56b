"""How a handler's ending (return value or exception) becomes the job's outcome — decided here, once."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from jobcommon.errors import JobCancelled, JobError
from jobcommon.models import ErrorInfo

MAX_ERROR_MESSAGE = 1000


class Verdict(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None


def one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR_MESSAGE else line[: MAX_ERROR_MESSAGE - 1] + "…"


def from_result(value: Any) -> Outcome:
    if isinstance(value, BaseModel):
        result = value.model_dump(mode="json")
    elif value is None:
        result = {}
    elif isinstance(value, dict):
        result = value
    else:
        result = {"value": value}
    return Outcome(Verdict.SUCCEEDED, result=result)


def from_exception(exc: BaseException) -> Outcome:
    """Unknown exceptions fail the job with their class name; a handler wanting a retry raises one."""
    if isinstance(exc, JobCancelled):
        return Outcome(Verdict.CANCELLED)
    if isinstance(exc, JobError):
        return Outcome(Verdict.FAILED, error=ErrorInfo(type=exc.error_type, message=one_line(exc.message)))
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        return Outcome(
            Verdict.FAILED,
            error=ErrorInfo(type="InvalidJobMessage", message=one_line(f"{where}: {first['msg']}")),
        )
    message = str(exc) or type(exc).__name__
    return Outcome(Verdict.FAILED, error=ErrorInfo(type=type(exc).__name__, message=one_line(message)))
