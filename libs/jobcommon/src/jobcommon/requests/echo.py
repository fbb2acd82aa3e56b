"""The `echo` canary of the `default` queue."""

from __future__ import annotations

import os
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from jobcommon.job_types import job_type
from jobcommon.policies import DEFAULT
from jobcommon.queues import QUEUES, Queue
from jobcommon.requests.base import BoundedJson, JobRequestBase

TEST_HOOKS_ENV = "MEDIAJOBS_TEST_HOOKS"
TEST_HOOKS = ("fail_with", "fail_attempts", "block_s", "ignore_cancel")


def hooks_enabled() -> bool:
    return os.environ.get(TEST_HOOKS_ENV, "").lower() in {"1", "true", "yes", "on"}


def _without_test_hooks(schema: dict[str, Any]) -> None:
    """Where the hooks are off, the schema (the API docs, the dashboard's submit form) leaves them out, and
    `fail_kind`, which only says how `fail_with` fails."""
    if hooks_enabled():
        return
    properties = schema.get("properties", {})
    for name in (*TEST_HOOKS, "fail_kind"):
        properties.pop(name, None)


@job_type(queue=QUEUES[Queue.DEFAULT], policy=DEFAULT)
class EchoRequest(JobRequestBase):
    """Canary job: returns its payload after an optional sleep (used by health checks and benchmarks)."""

    model_config = ConfigDict(json_schema_extra=_without_test_hooks)

    job_type: Literal["echo"] = "echo"
    payload: BoundedJson = Field(default_factory=dict)
    sleep_s: float = Field(default=0.0, ge=0.0, le=3600.0)
    step_s: float = Field(
        default=0.1, ge=0.1, le=60.0, description="While sleeping, report progress this often."
    )
    fail_with: str | None = Field(
        default=None,
        max_length=1000,
        description="Test hook: fail the job with this message (tests error paths).",
    )
    fail_kind: Literal["permanent", "transient", "unknown"] = Field(
        default="permanent",
        description="How it fails: PermanentError, TransientError or RuntimeError.",
    )
    fail_attempts: int | None = Field(
        default=None,
        ge=1,
        description="Test hook: fail until N failures are on record, then succeed.",
    )
    block_s: float = Field(
        default=0.0,
        ge=0.0,
        le=60.0,
        description="Test hook: block the worker's event loop this long first (liveness tests).",
    )
    ignore_cancel: bool = Field(
        default=False,
        description="Test hook: sleep in a way cancellation cannot interrupt (tests hard time limits).",
    )

    @model_validator(mode="after")
    def _test_hooks_enabled(self) -> Self:
        """The failure, blocking and cancel-ignoring hooks exist for tests and benchmarks: a deployment offers
        them only with `MEDIAJOBS_TEST_HOOKS=true` (every process that validates requests reads it)."""
        used = [name for name in TEST_HOOKS if getattr(self, name) not in (None, False, 0.0)]
        if used and not hooks_enabled():
            raise ValueError(f"{', '.join(used)}: echo's test hooks are off here (set {TEST_HOOKS_ENV}=true)")
        return self
