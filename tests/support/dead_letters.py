"""Dead letters made directly through the store (a job that ran out of attempts, and its letter), for tests
that need many of them without running each job to exhaustion."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jobcommon import Job, JobStatus, keys
from jobcommon.models import ErrorInfo

if TYPE_CHECKING:
    from jobcommon import JobClient


async def bury(
    client: JobClient, task_id: str, *, owner: str, request: dict[str, Any], error: ErrorInfo
) -> None:
    """Record echo job `task_id` of `owner` as failed and dead-lettered (RetriesExhausted), with `error`."""
    dead = Job(
        task_id=task_id,
        job_type="echo",
        queue="default",
        status=JobStatus.FAILED,
        created_at=datetime.now(UTC),
        request=request,
        max_attempts=1,
        dead=True,
        error=error,
        owner=owner,
    )
    await client.store.create(dead)
    await client.redis.xadd(
        keys.DEAD_LETTERS, {"task_id": task_id, "queue": "default", "reason": "RetriesExhausted"}
    )
