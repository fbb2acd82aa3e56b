"""How often to try a job, how long to wait between tries, how long a run may take.

Each job type declares its policy (`jobcommon.job_types`); a submission may override any of it (`retry`,
`time_limit` in the request).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from jobcommon.job_types import JOB_TYPES

if TYPE_CHECKING:
    from jobcommon.requests import RetryOverride, TimeLimitOverride


@dataclass(frozen=True, slots=True)
class JobPolicy:
    max_attempts: int
    """Runs in all (the first included); a transient failure on the last one fails the job (dead letter)."""
    backoff_base_s: float
    backoff_cap_s: float
    soft_limit_s: float
    """The run is told to stop (its task is cancelled) and fails or retries as a TimeLimitExceeded."""
    hard_limit_s: float
    """A run still not stopped by now is given up: the job fails, and the service restarts itself."""

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
        bound = min(self.backoff_cap_s, self.backoff_base_s * 2 ** max(0, attempt - 1))
        return (rng or random).uniform(0, bound)


DEFAULT = JobPolicy(
    max_attempts=3, backoff_base_s=2.0, backoff_cap_s=300.0, soft_limit_s=300.0, hard_limit_s=600.0
)
"""The policy of a job type that declares nothing special."""


HARD_LIMIT_GRACE_S = 5.0
"""The hard limit comes at least this long after the soft one: a handler cancelled at its soft limit gets time
to stop before its service gives up on it (and restarts)."""
MAX_ATTEMPTS_CEILING = 10
"""A submission may ask for up to this many attempts (or the job type's own number, if higher)."""
LIMIT_FACTOR = 2.0
"""A submission may stretch a time limit or backoff cap up to this many times the job type's own."""


def check_overrides(
    policy: JobPolicy, retry: RetryOverride | None, time_limit: TimeLimitOverride | None
) -> None:
    """Raise ValueError if a submission's overrides go past the bounds of the job type's `policy`: at most
    `MAX_ATTEMPTS_CEILING` attempts (or the type's own count), time limits and backoff cap at most
    `LIMIT_FACTOR` times the type's own. Lowering anything is always allowed."""
    if retry is not None:
        if retry.max_attempts is not None and retry.max_attempts > max(
            MAX_ATTEMPTS_CEILING, policy.max_attempts
        ):
            raise ValueError(
                f"retry.max_attempts may be at most {max(MAX_ATTEMPTS_CEILING, policy.max_attempts)}"
            )
        for name in ("backoff_base_s", "backoff_cap_s"):
            value, own = getattr(retry, name), getattr(policy, name)
            if value is not None and value > LIMIT_FACTOR * own:
                raise ValueError(f"retry.{name} may be at most {LIMIT_FACTOR * own:g} s for this job type")
    if time_limit is not None:
        for name in ("soft_limit_s", "hard_limit_s"):
            value, own = getattr(time_limit, name), getattr(policy, name)
            if value is not None and value > LIMIT_FACTOR * own:
                raise ValueError(
                    f"time_limit.{name} may be at most {LIMIT_FACTOR * own:g} s for this job type"
                )


def policy_for(
    job_type: str, retry: RetryOverride | None = None, time_limit: TimeLimitOverride | None = None
) -> JobPolicy:
    policy = JOB_TYPES.get(job_type).policy
    if retry is not None:
        policy = replace(policy, **retry.model_dump(exclude_none=True))
    if time_limit is not None:
        policy = replace(policy, **time_limit.model_dump(exclude_none=True))
    if policy.hard_limit_s < policy.soft_limit_s + HARD_LIMIT_GRACE_S:
        policy = replace(policy, hard_limit_s=policy.soft_limit_s + HARD_LIMIT_GRACE_S)
    return policy
