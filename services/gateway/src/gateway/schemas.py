"""Response bodies of the gateway's API (requests are jobcommon's job models)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from jobcommon import Job, Progress
from jobcommon.queue_stats import QueueStats


class JobList(BaseModel):
    jobs: list[Job]
    next_offset: int | None
    queues: dict[str, QueueStats]


class ResultResponse(BaseModel):
    task_id: str
    status: str
    result: dict[str, Any]


class ProgressResponse(Progress):
    task_id: str
    status: str


class RedisHealth(BaseModel):
    reachable: bool
    latency_ms: float | None = None
    error: str | None = None


class Health(BaseModel):
    status: str
    redis: RedisHealth
    queues: dict[str, QueueStats]
    services: list[dict[str, Any]]


class Problem(BaseModel):
    """Error body: `detail` says what went wrong; `status` is the job's status where it matters."""

    detail: str
    status: str | None = None
