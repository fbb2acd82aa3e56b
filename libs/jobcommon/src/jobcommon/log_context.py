"""The job a log line is about, bound once per run (a contextvar) and added to every record logged under it.

`JobMiddleware` binds a run's fields (`task_id`, `job_type`, `attempt`) around its handler; tasks the
handler starts inherit them. `JobFields`, a logging filter that `configure_logging` installs, copies them
onto each record together with `service` and the current OpenTelemetry span's `trace_id` and `span_id`
(the job's recorded trace id when no span is current), so no call writes `job=%s` for the formatter's sake.
"""

from __future__ import annotations

import contextlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import trace

if TYPE_CHECKING:
    from collections.abc import Iterator

FIELDS = ("service", "task_id", "job_type", "attempt", "trace_id", "span_id")


@dataclass(frozen=True)
class RunFields:
    task_id: str
    job_type: str
    attempt: int
    trace_id: str | None = None


_run: ContextVar[RunFields | None] = ContextVar("mediajobs_log_run", default=None)


@contextlib.contextmanager
def bound(fields: RunFields) -> Iterator[None]:
    """Log records made inside the block (and in tasks started from it) carry `fields`."""
    token = _run.set(fields)
    try:
        yield
    finally:
        _run.reset(token)


class JobFields(logging.Filter):
    """Adds `service`, `task_id`, `job_type`, `attempt`, `trace_id`, `span_id` to every record (None when
    the record is not about a job or not in a trace)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        run = _run.get()
        span = trace.get_current_span().get_span_context()
        record.service = self.service
        record.task_id = run.task_id if run else None
        record.job_type = run.job_type if run else None
        record.attempt = run.attempt if run else None
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else (run.trace_id if run else None)
        record.span_id = format(span.span_id, "016x") if span.is_valid else None
        return True
