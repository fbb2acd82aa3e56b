"""The spans of one unit of pool work, recorded in the pool process and exported by the service.

A pool process serves every job of its service and exports nothing itself (it stays free of OpenTelemetry:
see `imaging.worker`); `recorded` runs a work function under a `jobcommon.span_records` recorder and
returns its spans with its outcome, and the service exports them (`jobcommon.tracing.export_recorded`)
as children of the span current where it awaited the work, with their real start and end times: the
decode, candidate-frame, sharpness and encode phases of the work appear in the job's trace.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from jobcommon.span_records import RecordedSpan, SpanRecorder, recording

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")
PROCESS = "imaging-pool"


@dataclass(slots=True)
class Recorded(Generic[T]):
    """A work function's result (or the exception it raised) and the spans recorded while it ran."""

    result: T | None = None
    error: Exception | None = None
    spans: list[RecordedSpan] = field(default_factory=list)

    def unwrap(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


def recorded(fn: Callable[..., T], *args: Any) -> Recorded[T]:
    """`fn(*args)` inside an `imaging <work>` span (in a pool process)."""
    recorder = SpanRecorder(attributes={"mediajobs.process": PROCESS, "process.pid": os.getpid()})
    outcome: Recorded[T] = Recorded(spans=recorder.records)
    name = f"imaging {fn.__module__.rsplit('.', 1)[-1]}"
    with recording(recorder):
        try:
            with recorder.span(name):
                outcome.result = fn(*args)
        except Exception as exc:  # handed back to the service, which raises it
            outcome.error = exc
    return outcome
