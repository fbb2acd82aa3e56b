"""The job record: what mediajobs knows about one job, as stored in Redis and returned by the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from jobcommon import trace_links
from jobcommon.priorities import Priority


class JobStatus(StrEnum):
    SCHEDULED = "scheduled"
    """Submitted with `run_at` / `delay_s`: its message waits aside until then (cancellable)."""
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


def utcnow() -> datetime:
    return datetime.now(UTC)


class Progress(BaseModel):
    """The latest progress a running job reported."""

    model_config = ConfigDict(frozen=True)

    percent: float | None = Field(default=None, ge=0.0, le=100.0)
    message: str = ""
    downloaded_bytes: int | None = None
    total_bytes: int | None = None
    speed: float | None = Field(default=None, description="Bytes per second.")
    eta: float | None = Field(default=None, description="Seconds until done, as estimated by the worker.")
    items_total: int | None = Field(default=None, description="Bulk jobs: how many items in all.")
    items_done: int | None = Field(
        default=None, description="Bulk jobs: items finished (succeeded, failed or cancelled)."
    )
    items_failed: int | None = Field(default=None, description="Bulk jobs: items that failed.")
    items_cancelled: int | None = Field(
        default=None, description="Jobs made of child jobs (a playlist): entries cancelled."
    )
    updated_at: datetime | None = None


class ErrorInfo(BaseModel):
    """Why a job failed: the error's type and a one-line message (never a traceback)."""

    model_config = ConfigDict(frozen=True)

    type: str
    message: str


class ErrorRecord(BaseModel):
    """One failed attempt, kept in the job's history."""

    model_config = ConfigDict(frozen=True)

    attempt: int
    type: str
    message: str
    at: datetime
    retry_in_s: float | None = None
    """Delay before the next attempt, or None when the job was not retried."""


ATTEMPT_LOG_LIMIT = 20
"""Most attempts a job's `attempt_log` keeps (the oldest are dropped)."""


class AttemptRecord(BaseModel):
    """One run of a job, as the job-state scripts record it: when it was queued, started and ended, by which
    worker, and how it ended (null while it runs)."""

    model_config = ConfigDict(frozen=True)

    attempt: int
    worker: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: Literal["succeeded", "failed", "retry", "cancelled", "reclaimed"] | None = None
    error: ErrorInfo | None = None
    wait_s: float | None = Field(default=None, description="Seconds from queued to started.")
    run_s: float | None = Field(default=None, description="Seconds from started to ended.")


class Job(BaseModel):
    """One job's record."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    job_type: str
    queue: str
    priority: Priority = Field(default=Priority.NORMAL, description="Its queue's lane (high, normal, low).")
    status: JobStatus
    progress: Progress = Field(default_factory=Progress)
    attempts: int = 0
    max_attempts: int = 1
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: ErrorInfo | None = None
    errors: list[ErrorRecord] = Field(default_factory=list, description="Every failed attempt, oldest first.")
    attempt_log: list[AttemptRecord] = Field(
        default_factory=list, description=f"The attempts, oldest first (the last {ATTEMPT_LOG_LIMIT})."
    )
    next_attempt_at: datetime | None = None
    dead: bool = Field(default=False, description="Out of attempts and in the dead-letter stream.")
    result: dict[str, Any] | None = None
    trace_id: str | None = None
    parent_id: str | None = Field(default=None, description="The job that created this one (a follow-up).")
    children: list[str] = Field(
        default_factory=list, description="Jobs this one created (follow-ups, entries)."
    )
    child_index: int | None = Field(
        default=None, description="This job's position among its parent's children."
    )
    waiting_children: bool = Field(default=False, description="Running as the sum of its children's runs.")
    cancel_requested: bool = False
    worker: str | None = None
    owner: str | None = Field(
        default=None,
        description="Who submitted it (the API key's owner); its follow-ups and children inherit it. Only "
        "its owner (or an admin) sees it.",
    )
    request: dict[str, Any] = Field(
        default_factory=dict,
        description="The submitted job, as validated: its job type and what differs from the defaults.",
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="Opens the job's trace in the tracing UI (with TRACING_UI_URL set; else null)."
    )
    @property
    def trace_url(self) -> str | None:
        return trace_links.trace_url(self.trace_id)

    @classmethod
    def from_hash(cls, fields: dict[str, str]) -> Job:
        """Build a job from its Redis hash (JSON-valued fields are decoded)."""
        data: dict[str, Any] = {k: v for k, v in fields.items() if v != ""}
        for name in _JSON_FIELDS:
            if name in data:
                data[name] = json.loads(data[name])
        data["cancel_requested"] = data.get("cancel_requested") == "1"
        data["dead"] = data.get("dead") == "1"
        data["waiting_children"] = data.get("waiting_children") == "1"
        return cls.model_validate(data)


_JSON_FIELDS = ("progress", "error", "errors", "result", "request", "children", "attempt_log")


def to_hash_fields(**values: Any) -> dict[str, str]:
    """Encode job fields the way `Job.from_hash` reads them back."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            out[name] = ""
        elif isinstance(value, BaseModel):
            out[name] = value.model_dump_json(exclude_none=True)
        elif isinstance(value, list):
            items = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
            out[name] = json.dumps(items, separators=(",", ":"))
        elif name in _JSON_FIELDS:
            out[name] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, datetime):
            out[name] = value.isoformat()
        elif isinstance(value, bool):
            out[name] = "1" if value else "0"
        else:
            out[name] = str(value)
    return out


class JobEvent(BaseModel):
    """A change of one job, announced to live listeners: `kind` says what changed, `job` is the new state."""

    model_config = ConfigDict(frozen=True)

    kind: str = Field(description="'status' or 'progress'.")
    job: Job
