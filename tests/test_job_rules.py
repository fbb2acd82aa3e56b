"""The two core rules, as tables: how long a retry waits (`JobPolicy.backoff`) and what a handler's
exception makes of its job (`outcome.from_exception`)."""

from __future__ import annotations

import asyncio
import random

import pytest
from pydantic import BaseModel, ValidationError

from jobcommon.errors import (
    HardTimeLimitExceeded,
    JobCancelled,
    PermanentError,
    Retry,
    TimeLimitExceeded,
    TransientError,
)
from jobcommon.outcome import MAX_ERROR_MESSAGE, Verdict, from_exception
from jobcommon.policies import JobPolicy

POLICY = JobPolicy(max_attempts=5, backoff_base_s=2.0, backoff_cap_s=30.0, soft_limit_s=60, hard_limit_s=90)


class _Highest(random.Random):
    """Draws the upper end of every range: shows the bound a backoff is jittered under."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(
    ("attempt", "bound"),
    [(0, 2.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 30.0), (6, 30.0), (60, 30.0)],
)
def test_backoff_bound_doubles_per_attempt_up_to_the_cap(attempt: int, bound: float) -> None:
    """The backoff bound is base * 2^(attempt-1), never below base, never above the cap."""
    assert POLICY.backoff(attempt, _Highest()) == bound


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 9])
def test_backoff_is_full_jitter_under_the_bound(attempt: int) -> None:
    """Waits spread over [0, bound]: full jitter, so retries of many jobs do not bunch up."""
    bound = POLICY.backoff(attempt, _Highest())
    rng = random.Random(attempt)
    waits = [POLICY.backoff(attempt, rng) for _ in range(500)]
    assert all(0.0 <= wait <= bound for wait in waits)
    assert min(waits) < 0.1 * bound
    assert max(waits) > 0.9 * bound


class _Body(BaseModel):
    size: int


def _validation_error() -> ValidationError:
    try:
        _Body.model_validate({"size": "big"})
    except ValidationError as exc:
        return exc
    raise AssertionError("validation passed")


@pytest.mark.parametrize(
    ("exc", "verdict", "error_type", "retryable", "delay_s"),
    [
        (PermanentError("bad input"), Verdict.FAILED, "PermanentError", False, None),
        (PermanentError("no", error_type="Gone"), Verdict.FAILED, "Gone", False, None),
        (HardTimeLimitExceeded("ran away"), Verdict.FAILED, "HardTimeLimitExceeded", False, None),
        (TransientError("later"), Verdict.FAILED, "TransientError", True, None),
        (TimeLimitExceeded("too slow"), Verdict.FAILED, "TimeLimitExceeded", True, None),
        (Retry("again", delay=7.5), Verdict.FAILED, "Retry", True, 7.5),
        (RuntimeError("bug"), Verdict.FAILED, "RuntimeError", True, None),
        (ConnectionError("reset"), Verdict.FAILED, "ConnectionError", True, None),
        (_validation_error(), Verdict.FAILED, "InvalidJobMessage", False, None),
        (JobCancelled("stop"), Verdict.CANCELLED, "", False, None),
    ],
)
def test_from_exception_decides_the_jobs_fate(
    exc: BaseException, verdict: Verdict, error_type: str, retryable: bool, delay_s: float | None
) -> None:
    """Permanent errors fail now, transient and unknown ones retry (Retry after its delay), cancel cancels."""
    outcome = from_exception(exc)
    assert (outcome.verdict, outcome.error_type, outcome.retryable, outcome.delay_s) == (
        verdict,
        error_type,
        retryable,
        delay_s,
    )


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (TransientError("two\n  lines"), "two lines"),
        (RuntimeError(), "RuntimeError"),
        (asyncio.InvalidStateError("x" * 5000), "x" * (MAX_ERROR_MESSAGE - 1) + "…"),
        (_validation_error(), "size: Input should be a valid integer, unable to parse string as an integer"),
    ],
)
def test_from_exception_keeps_one_short_line(exc: BaseException, message: str) -> None:
    """The stored message is one line, never empty, at most MAX_ERROR_MESSAGE characters."""
    assert from_exception(exc).message == message
