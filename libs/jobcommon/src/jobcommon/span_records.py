"""Spans recorded where nothing exports them, sent to the parent process, which does.

A yt-dlp child process and a CPU pool process do a job's real work, so their phases belong in the job's
trace. They do not export spans themselves: the yt-dlp child is sandboxed (its connect guard would refuse a
collector on a private network), it is forked from a zygote that must start no threads (a batch exporter
does), it is SIGKILLed on cancel (unflushed spans lost); a pool process serves many jobs. Instead they
record spans here (stdlib only: these processes stay light) and hand them over with their results (a
protocol line, a return value); `jobcommon.tracing.export_recorded` exports them from the parent with their
own ids, times, parents and attributes, in the trace named by the W3C `traceparent` the parent passed in.

`recording(recorder)` makes a recorder current for the process (one job at a time runs in each of these
processes); `span(name)` then records a span from anywhere, and is a no-op when nothing records.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

AttributeValue = str | int | float | bool

_random = random.SystemRandom()


def _new_span_id() -> str:
    return format(_random.getrandbits(64) or 1, "016x")


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    name: str
    time_ns: int
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


@dataclass(slots=True)
class RecordedSpan:
    """One finished span: ids as hex (`trace_id`/`parent_id` None: the exporting parent's current span's)."""

    name: str
    span_id: str
    start_ns: int
    end_ns: int = 0
    trace_id: str | None = None
    parent_id: str | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    events: list[RecordedEvent] = field(default_factory=list)
    error_type: str | None = None
    error_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "span_id": self.span_id,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "trace_id": self.trace_id,
            "parent_id": self.parent_id,
            "attributes": self.attributes,
            "events": [[e.name, e.time_ns, e.attributes] for e in self.events],
            "error_type": self.error_type,
            "error_message": self.error_message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordedSpan:
        return cls(
            name=str(data["name"]),
            span_id=str(data["span_id"]),
            start_ns=int(data["start_ns"]),
            end_ns=int(data["end_ns"]),
            trace_id=data.get("trace_id"),
            parent_id=data.get("parent_id"),
            attributes=dict(data.get("attributes") or {}),
            events=[RecordedEvent(str(n), int(t), dict(a)) for n, t, a in data.get("events") or []],
            error_type=data.get("error_type"),
            error_message=data.get("error_message"),
        )


def parse_traceparent(traceparent: str | None) -> tuple[str, str] | None:
    """(trace id, span id) of a W3C `traceparent` header value, or None if it is not a sampled, valid one."""
    parts = (traceparent or "").strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return None
    try:
        sampled = int(parts[3], 16) & 1
        valid = int(parts[1], 16) and int(parts[2], 16)
    except ValueError:
        return None
    return (parts[1], parts[2]) if sampled and valid else None


class SpanRecorder:
    """Records spans of one process's work; `on_end` gets each as it finishes (and `records` keeps them).

    Spans nest by when they are open: a span begun while others are open is the child of the latest.
    Thread-safe (yt-dlp calls its hooks from worker threads).
    """

    def __init__(
        self,
        *,
        traceparent: str | None = None,
        attributes: dict[str, AttributeValue] | None = None,
        on_end: Callable[[RecordedSpan], None] | None = None,
    ) -> None:
        parsed = parse_traceparent(traceparent)
        self.trace_id: str | None = parsed[0] if parsed else None
        self.parent_id: str | None = parsed[1] if parsed else None
        self.attributes = dict(attributes or {})
        self.on_end = on_end
        self.records: list[RecordedSpan] = []
        self._open: list[RecordedSpan] = []
        self._lock = threading.Lock()

    def begin(self, name: str, **attributes: AttributeValue | None) -> RecordedSpan:
        with self._lock:
            parent = self._open[-1].span_id if self._open else self.parent_id
            span = RecordedSpan(
                name=name,
                span_id=_new_span_id(),
                start_ns=time.time_ns(),
                trace_id=self.trace_id,
                parent_id=parent,
                attributes={
                    **self.attributes,
                    **{k: v for k, v in attributes.items() if v is not None},
                },
            )
            self._open.append(span)
        return span

    def end(
        self, span: RecordedSpan, error: BaseException | None = None, error_type: str | None = None
    ) -> None:
        """End `span`; `error` marks it failed (as `error_type`, default the exception's class name)."""
        with self._lock:
            if span not in self._open:
                return
            self._open.remove(span)
            span.end_ns = time.time_ns()
            if error is not None:
                span.error_type = error_type or type(error).__name__
                span.error_message = str(error)[:500]
            self.records.append(span)
        if self.on_end is not None:
            self.on_end(span)

    def event(self, name: str, **attributes: AttributeValue | None) -> None:
        """An event on the innermost open span (dropped when none is open)."""
        with self._lock:
            if self._open:
                clean = {k: v for k, v in attributes.items() if v is not None}
                self._open[-1].events.append(RecordedEvent(name, time.time_ns(), clean))

    @contextlib.contextmanager
    def span(self, name: str, **attributes: AttributeValue | None) -> Iterator[RecordedSpan]:
        recorded = self.begin(name, **attributes)
        try:
            yield recorded
        except BaseException as exc:
            self.end(recorded, exc)
            raise
        self.end(recorded)

    def close(self, error: BaseException | None = None, error_type: str | None = None) -> None:
        """End every span still open, innermost first (`error` marks them failed)."""
        while True:
            with self._lock:
                if not self._open:
                    return
                innermost = self._open[-1]
            self.end(innermost, error, error_type)


_current: SpanRecorder | None = None


@contextlib.contextmanager
def recording(recorder: SpanRecorder) -> Iterator[SpanRecorder]:
    """Make `recorder` the process's current one inside the block."""
    global _current
    previous, _current = _current, recorder
    try:
        yield recorder
    finally:
        _current = previous


def current() -> SpanRecorder | None:
    return _current


@contextlib.contextmanager
def span(name: str, **attributes: AttributeValue | None) -> Iterator[None]:
    """A span of the current recorder around the block (nothing when none records)."""
    recorder = _current
    if recorder is None:
        yield
        return
    with recorder.span(name, **attributes):
        yield
