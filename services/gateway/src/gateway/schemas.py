"""Response bodies of the gateway's API (requests are jobcommon's job models); jobs, items and results in
them are shown masked (`gateway.public_view`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.public_view import PublicData, PublicItem, PublicJob
from jobcommon import Progress
from jobcommon.queue_stats import QueueStats


class JobList(BaseModel):
    jobs: list[PublicJob]
    next_offset: int | None
    next_cursor: str | None = None
    """Pass as `cursor` for the next page; null at the end."""
    queues: dict[str, QueueStats]


class JobCounts(BaseModel):
    counts: dict[str, int]
    """Every job status, with how many matching jobs are in it."""
    total: int
    approximate: bool = False
    """True when a search was counted only up to a bound: the numbers are a lower bound."""


class JobTypeInfo(BaseModel):
    """A job type a client may submit."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    queue: str
    description: str
    json_schema: dict[str, Any] = Field(alias="schema", description="JSON schema of the request body.")
    max_attempts: int


class ResultResponse(BaseModel):
    task_id: str
    status: str
    result: PublicData


class ProgressResponse(Progress):
    task_id: str
    status: str


class RedisHealth(BaseModel):
    reachable: bool
    latency_ms: float | None = None
    error: str | None = None


class DutyReport(BaseModel):
    """The last run of one janitor duty."""

    at: datetime
    took_ms: float
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class JanitorHealth(BaseModel):
    leader: str | None = None
    """Instance of the janitor replica that holds the leader lock (runs the duties); null when none does."""
    duties: dict[str, DutyReport] = Field(default_factory=dict)

    @classmethod
    def from_redis(cls, leader: str | None, reports: Mapping[str, str]) -> JanitorHealth:
        """From the lock's value and the report hash; a report that does not parse is left out."""
        duties: dict[str, DutyReport] = {}
        for name, raw in sorted(reports.items()):
            try:
                duties[name] = DutyReport.model_validate_json(raw)
            except ValidationError:
                continue
        return cls(leader=leader, duties=duties)


class DiskHealth(BaseModel):
    """Space on MEDIA_ROOT's file system (downloads refuse to start when it runs low)."""

    path: str
    free_bytes: int | None = None
    total_bytes: int | None = None
    low: bool = False
    error: str | None = None


class Health(BaseModel):
    status: str
    redis: RedisHealth
    disk: DiskHealth | None = None
    queues: dict[str, QueueStats]
    services: list[dict[str, Any]]
    janitor: JanitorHealth = Field(default_factory=JanitorHealth)


class HealthSummary(BaseModel):
    """Health without details: what anyone may ask (a liveness probe); the details need an admin key."""

    status: str


class Problem(BaseModel):
    """RFC 9457 problem details (`application/problem+json`): `detail` says what went wrong."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    job_status: str | None = Field(default=None, description="The job's status, where it matters (409).")


class ItemPage(BaseModel):
    """A page of a bulk job's per-item results."""

    task_id: str
    total: int
    offset: int
    items: list[PublicItem | None]
    """By index from `offset`; null where a bulk item has not finished yet (a playlist's entries show from the
    start: queued, running with their progress, then their outcome)."""
