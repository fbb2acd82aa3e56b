"""The spans of a job's life, after the OpenTelemetry messaging semantic conventions (Redis streams).

- `creating`: a `create <job_type>` PRODUCER span around making a job (record + message). Its context
  travels in the message's `traceparent` header (kept by retries and requeues, which copy the stream entry),
  so every attempt of the job is its child. `messaging.operation.type` is `send` when the message goes onto
  its queue at once, `create` when it is staged or held (a follow-up, a playlist entry) and sent later.
- `attempt`: one CONSUMER `process <queue>` span per attempt (a retry, a reclaimed run: a new span in the
  same trace), parented to the job's creation context. Its events tell the attempt's story: progress (at
  most about once a second, the last always), cancel, retry scheduled, lease reclaimed, dead-lettered; a
  failure sets ERROR status, `error.type` and an exception event.

Follow-ups and playlist children are created inside their parent's attempt span, so they stay in the
parent's trace: one trace shows a whole pipeline. (The conventions' links are for a consumer span that is
not the child of its message's creation context, e.g. a batch; here every process span is, so none is
needed.) FastStream's own telemetry middleware is not installed: its `<stream> create/publish/process`
spans would double these.
"""

from __future__ import annotations

import contextlib
import traceback
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from jobcommon.errors import ClientError
from jobcommon.redaction import redact
from jobcommon.tracing import tracer

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

    from jobcommon.models import Job
    from jobcommon.queues import QueueSpec

SYSTEM = "redis"
TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()


def _job_attributes(
    task_id: str, job_type: str, spec: QueueSpec, owner: str | None
) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "messaging.system": SYSTEM,
        "messaging.destination.name": spec.stream,
        "messaging.message.conversation_id": task_id,
        "mediajobs.job.id": task_id,
        "mediajobs.job.type": job_type,
        "mediajobs.job.queue": str(spec.queue),
    }
    if owner:
        attributes["mediajobs.job.owner"] = owner
    return attributes


def start_creating(task_id: str, job_type: str, spec: QueueSpec, owner: str | None, *, sent: bool) -> Span:
    """The PRODUCER span of one job being made, started (not made current; the caller ends it); `sent`: its
    message goes onto its queue now (else it is staged or held, and sent later)."""
    attributes = _job_attributes(task_id, job_type, spec, owner)
    attributes["messaging.operation.type"] = "send" if sent else "create"
    attributes["messaging.operation.name"] = "create"
    return tracer.start_span(f"create {job_type}", kind=SpanKind.PRODUCER, attributes=attributes)


@contextlib.contextmanager
def creating(
    task_id: str, job_type: str, spec: QueueSpec, owner: str | None, *, sent: bool
) -> Iterator[Span]:
    """`start_creating`'s span, current inside the block and ended after it. An escaping exception is
    recorded on it as an error, except a refusal of the submission (a ClientError: over its rate or quota,
    an id taken), which is an event: the caller's answer, not a fault."""
    span = start_creating(task_id, job_type, spec, owner, sent=sent)
    with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        try:
            yield span
        except ClientError as exc:
            span.add_event(
                "refused", {"error.type": type(exc).__name__, "mediajobs.reason": redact(str(exc))}
            )
            raise
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, redact(f"{type(exc).__name__}: {exc}")))
            raise


def carrier(span: Span | None = None) -> dict[str, str]:
    """Message headers holding `span`'s context, default the current span's (W3C `traceparent`; empty
    outside a trace)."""
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers, context=trace.set_span_in_context(span) if span is not None else None)
    return headers


@contextlib.contextmanager
def attempt(
    job: Job, spec: QueueSpec, entry_id: str | bytes, headers: Mapping[str, object]
) -> Iterator[Span]:
    """The CONSUMER span of one attempt at `job`, current inside the block, parented to the context its
    message carries. The caller sets its outcome (`failed`, events); an escaping exception does not."""
    text_headers = {k: v for k, v in headers.items() if isinstance(v, str)}
    parent = _PROPAGATOR.extract(text_headers)
    attributes = _job_attributes(job.task_id, job.job_type, spec, job.owner)
    attributes.update(
        {
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.consumer.group.name": spec.group,
            "messaging.message.id": entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
            "mediajobs.job.attempt": job.attempts,
        }
    )
    with tracer.start_as_current_span(
        f"process {spec.queue}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,  # the middleware says how the attempt ended
        set_status_on_exception=False,
    ) as span:
        reclaimed = _lost_attempt(job)
        if reclaimed is not None:
            span.add_event(
                "lease reclaimed",
                {"mediajobs.job.attempt": reclaimed, "mediajobs.reason": "its worker stopped responding"},
            )
        yield span


def _lost_attempt(job: Job) -> int | None:
    """The previous attempt, if it ended without a recorded outcome: its worker died or hung and the run was
    reclaimed (a handed-back run does not count as an attempt; every failed one leaves an error record)."""
    previous = job.attempts - 1
    if previous < 1:
        return None
    return None if any(record.attempt == previous for record in job.errors) else previous


def failed(span: Span, error_type: str, message: str, exc: BaseException | None = None) -> None:
    """Mark the attempt failed: ERROR status, `error.type`, and an exception event (redacted)."""
    span.set_status(Status(StatusCode.ERROR, redact(message)))
    span.set_attribute("error.type", error_type)
    attributes: dict[str, AttributeValue] = {
        "exception.type": error_type,
        "exception.message": redact(message),
    }
    if exc is not None:
        trace_text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        attributes["exception.stacktrace"] = redact(trace_text)
    span.add_event("exception", attributes)


def event(name: str, attributes: Mapping[str, AttributeValue | None] | None = None) -> None:
    """An event on the current span (the attempt's, inside a handler); None-valued attributes are left out."""
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name, {k: v for k, v in (attributes or {}).items() if v is not None})
