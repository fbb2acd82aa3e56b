"""The `echo` canary of the `default` queue."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from jobcommon.job_types import job_type
from jobcommon.policies import DEFAULT
from jobcommon.queues import QUEUES, Queue
from jobcommon.requests.base import JobRequestBase


@job_type(queue=QUEUES[Queue.DEFAULT], policy=DEFAULT)
class EchoRequest(JobRequestBase):
    """Canary job: returns its payload after an optional sleep (used by health checks and benchmarks)."""

    job_type: Literal["echo"] = "echo"
    payload: dict[str, Any] = Field(default_factory=dict)
    sleep_s: float = Field(default=0.0, ge=0.0, le=3600.0)
    fail_with: str | None = Field(
        default=None,
        max_length=1000,
        description="Fail the job with this message (tests error paths).",
    )
    fail_kind: Literal["permanent", "transient", "unknown"] = Field(
        default="permanent",
        description="How it fails: PermanentError, TransientError or RuntimeError.",
    )
    fail_attempts: int | None = Field(
        default=None,
        ge=1,
        description="Fail until N failures are on record, then succeed.",
    )
    block_s: float = Field(
        default=0.0,
        ge=0.0,
        le=60.0,
        description="Block the worker's event loop this long first (tests liveness of busy workers).",
    )
    ignore_cancel: bool = Field(
        default=False, description="Sleep in a way cancellation cannot interrupt (tests hard time limits)."
    )
