"""Per job type: how often to try, how long to wait between tries, how long a run may take.

The table is the default; a submission may override any of it (`retry`, `time_limit` in the request).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

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

IMAGE_WORK = JobPolicy(
    max_attempts=3, backoff_base_s=2.0, backoff_cap_s=120.0, soft_limit_s=1800.0, hard_limit_s=1900.0
)
"""Imaging jobs: bulk ones over many sources may take a while."""

POLICIES: dict[str, JobPolicy] = {
    "video_download": JobPolicy(
        max_attempts=5,
        backoff_base_s=5.0,
        backoff_cap_s=600.0,
        soft_limit_s=2 * 3600.0,
        hard_limit_s=2 * 3600.0 + 300,
    ),
    "playlist_download": JobPolicy(
        max_attempts=3, backoff_base_s=5.0, backoff_cap_s=300.0, soft_limit_s=600.0, hard_limit_s=660.0
    ),
    "video_info": JobPolicy(
        max_attempts=3, backoff_base_s=2.0, backoff_cap_s=120.0, soft_limit_s=120.0, hard_limit_s=150.0
    ),
    "metadata_enrich": JobPolicy(
        max_attempts=3, backoff_base_s=5.0, backoff_cap_s=300.0, soft_limit_s=3600.0, hard_limit_s=3700.0
    ),
    **dict.fromkeys(("thumbnail", "image_resize", "image_optimize", "storyboard"), IMAGE_WORK),
    "echo": DEFAULT,
}


def policy_for(
    job_type: str, retry: RetryOverride | None = None, time_limit: TimeLimitOverride | None = None
) -> JobPolicy:
    policy = POLICIES.get(job_type, DEFAULT)
    if retry is not None:
        policy = replace(policy, **retry.model_dump(exclude_none=True))
    if time_limit is not None:
        policy = replace(policy, **time_limit.model_dump(exclude_none=True))
    if policy.hard_limit_s < policy.soft_limit_s:
        policy = replace(policy, hard_limit_s=policy.soft_limit_s)
    return policy
