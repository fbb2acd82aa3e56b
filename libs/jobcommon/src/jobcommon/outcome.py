"""How a handler's ending (return value or exception) becomes the job's outcome — decided here, once.

The rule for exceptions:

- `PermanentError` (and pydantic validation errors of the message): fail now, never retry.
- `TransientError`, `Retry(delay)`, `TimeLimitExceeded`: retry while attempts remain (`Retry` after its
  delay, the others after exponential backoff with full jitter); after the last attempt the job fails and is
  dead-lettered.
- `JobCancelled`: the job ends `cancelled`.
- `Deferred(delay)`: the job waits `scheduled` for its turn at a shared rate limit; not an attempt.
- Any other exception is a bug or an unforeseen condition; like a transient error it is retried while
  attempts remain, so one flaky dependency does not lose a job, and then fails (dead-lettered).

Every message made here passes `one_line`, which masks URL credentials and secret query values
(`jobcommon.redaction.redact`): an error is recorded masked — the job's `error`, its `errors` and
`attempt_log`, a bulk job's items, a parent's copy of its child's error — so Redis itself (and its backups)
holds no password that an exception named. The error's type is not touched: dead letters are grouped by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from jobcommon.children import AwaitChildren
from jobcommon.errors import Deferred, JobCancelled, JobError, PermanentError, Retry
from jobcommon.redaction import redact

MAX_ERROR_MESSAGE = 1000


class Verdict(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    AWAITING = "awaiting"
    """The handler spawned children; the job ends when its last child ends."""
    DEFERRED = "deferred"
    """The job waits for its turn at a shared rate limit (`delay_s`); the run did no work."""
    LOST = "lost"
    """The run lost its lease (its delivery was reclaimed): another run owns the job; record nothing."""


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    result: dict[str, Any] | None = None
    error_type: str = ""
    message: str = ""
    retryable: bool = False
    delay_s: float | None = None
    """An explicit delay before the retry (from `Retry`); None means the policy's backoff."""
    children: AwaitChildren | None = None


CANCELLED = Outcome(Verdict.CANCELLED)
LOST = Outcome(Verdict.LOST)


def one_line(text: str) -> str:
    """`text` as an error's message: secrets masked, on one line, at most `MAX_ERROR_MESSAGE` characters.
    Masked before it is cut, so a cut never leaves part of a password that the mask would have matched."""
    line = " ".join(redact(text).split())
    return line if len(line) <= MAX_ERROR_MESSAGE else line[: MAX_ERROR_MESSAGE - 1] + "…"


def from_result(value: Any) -> Outcome:
    if isinstance(value, AwaitChildren):
        return Outcome(Verdict.AWAITING, children=value)
    if isinstance(value, BaseModel):
        result = value.model_dump(mode="json")
    elif value is None:
        result = {}
    elif isinstance(value, dict):
        result = value
    else:
        result = {"value": value}
    return Outcome(Verdict.SUCCEEDED, result=result)


def first_problem(exc: ValidationError) -> str:
    """A validation error as one short line: where, and what is wrong there (not pydantic's model names)."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "message"
    return one_line(f"{where}: {first['msg']}")


def from_exception(exc: BaseException) -> Outcome:
    if isinstance(exc, JobCancelled):
        return CANCELLED
    if isinstance(exc, Deferred):
        return Outcome(Verdict.DEFERRED, message=one_line(exc.message), delay_s=max(exc.delay, 0.0))
    if isinstance(exc, JobError):
        return Outcome(
            Verdict.FAILED,
            error_type=exc.error_type,
            message=one_line(exc.message),
            retryable=not isinstance(exc, PermanentError),
            delay_s=exc.delay if isinstance(exc, Retry) else None,
        )
    if isinstance(exc, ValidationError):
        return Outcome(Verdict.FAILED, error_type="InvalidJobMessage", message=first_problem(exc))
    return Outcome(
        Verdict.FAILED,
        error_type=type(exc).__name__,
        message=one_line(str(exc) or type(exc).__name__),
        retryable=True,
    )
