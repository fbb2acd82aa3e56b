"""OpenTelemetry set-up shared by every process.

A real tracer provider is always installed, so trace ids exist and propagate from the gateway through every
worker. Spans are exported over OTLP only when the standard `OTEL_EXPORTER_OTLP_*ENDPOINT` variables say where
to (and `OTEL_TRACES_EXPORTER` is not `none`); `OTEL_SDK_DISABLED=true` turns tracing off entirely.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from jobcommon.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.context import Context
    from opentelemetry.util.types import AttributeValue

    from jobcommon.span_records import RecordedSpan

_provider: TracerProvider | None = None
_exporting: list[SpanProcessor] = []
"""The processors that export (for spans recorded in other processes, `export_recorded`)."""

SERVICE_NAME = "service.name"


class ServiceNameAttribute(SpanProcessor):
    """Copies the resource's `service.name` onto every span as an attribute: some trace UIs (Arize Phoenix)
    drop resource attributes, and a span must still say which service made it."""

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute(SERVICE_NAME, self.service_name)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _export_configured() -> bool:
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure_tracing(service_name: str) -> trace.TracerProvider:
    """Install (once per process) and return the tracer provider for `service_name`."""
    global _provider
    if _provider is not None:
        return _provider
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return trace.get_tracer_provider()
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(ServiceNameAttribute(str(resource.attributes[SERVICE_NAME])))
    if _export_configured():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporting = BatchSpanProcessor(OTLPSpanExporter())
        provider.add_span_processor(exporting)
        _exporting.append(exporting)
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


SHUTDOWN_FLUSH_S = 3.0
"""How long a stopping process waits for its last spans to be exported. The OTLP exporter retries a slow or
unreachable collector for its whole timeout per batch; a service must not take that long to stop (its
supervisor's grace period would run out), so what is not exported by then is dropped."""


def shutdown_tracing() -> None:
    """Flush and stop exporting (call when the process stops); waits at most `SHUTDOWN_FLUSH_S`."""
    if _provider is None:
        return
    flushing = threading.Thread(target=_provider.shutdown, name="otel-shutdown", daemon=True)
    flushing.start()
    flushing.join(SHUTDOWN_FLUSH_S)


def current_trace_id(span: trace.Span | None = None) -> str | None:
    """The trace id of `span` (default: the active span) as 32 hex digits, or None outside a recorded span."""
    context = (span or trace.get_current_span()).get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def export_recorded(
    records: Iterable[RecordedSpan], parent: SpanContext | None = None, *, scope: str = "mediajobs"
) -> int:
    """Export spans another process recorded (`jobcommon.span_records`) as this service's, in `parent`'s
    trace (default: the current span's); a record's own trace and parent ids win where it has them (they
    came from the `traceparent` this process passed it). Nothing when the trace is not sampled or nothing
    exports. Returns how many were exported."""
    parent = parent or trace.get_current_span().get_span_context()
    if _provider is None or not _exporting or not parent.is_valid or not parent.trace_flags.sampled:
        return 0
    resource = _provider.resource
    service = str(resource.attributes.get(SERVICE_NAME, ""))
    count = 0
    for record in records:
        trace_id = int(record.trace_id, 16) if record.trace_id else parent.trace_id
        parent_id = int(record.parent_id, 16) if record.parent_id else parent.span_id
        attributes: dict[str, AttributeValue] = {SERVICE_NAME: service, **record.attributes}
        events = [Event(e.name, e.attributes, e.time_ns) for e in record.events]
        status = Status(StatusCode.UNSET)
        if record.error_type:
            message = redact(record.error_message or "")
            attributes["error.type"] = record.error_type
            status = Status(StatusCode.ERROR, message)
            events.append(
                Event(
                    "exception",
                    {"exception.type": record.error_type, "exception.message": message},
                    record.end_ns,
                )
            )
        span = ReadableSpan(
            name=record.name,
            context=SpanContext(trace_id, int(record.span_id, 16), False, parent.trace_flags),
            parent=SpanContext(trace_id, parent_id, False, parent.trace_flags),
            resource=resource,
            attributes=attributes,
            events=events,
            kind=SpanKind.INTERNAL,
            status=status,
            start_time=record.start_ns,
            end_time=record.end_ns or record.start_ns,
            instrumentation_scope=InstrumentationScope(scope),
        )
        for processor in _exporting:
            processor.on_end(span)
        count += 1
    return count


tracer = trace.get_tracer("mediajobs")
