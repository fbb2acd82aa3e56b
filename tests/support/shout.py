"""A job type declared outside jobcommon, as a plugin package would: `shout` on its own queue `shouting`.

Loaded by every mediajobs process through the `mediajobs.job_types` entry point (tests/test_job_types.py
installs one) or `MEDIAJOBS_JOB_TYPES=tests.support.shout`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from jobcommon import JobPolicy, JobRequestBase, QueueSpec, job_type

SHOUTING = QueueSpec("shouting", group="shouter")


@job_type(
    queue=SHOUTING,
    policy=JobPolicy(max_attempts=2, backoff_base_s=0.1, backoff_cap_s=1, soft_limit_s=10, hard_limit_s=20),
)
class ShoutRequest(JobRequestBase):
    """Say `text` louder."""

    job_type: Literal["shout"] = "shout"
    text: str = Field(max_length=100)


class ShoutResult(BaseModel):
    text: str
