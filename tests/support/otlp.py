"""A tiny OTLP/HTTP trace receiver for tests.

``OtlpReceiver`` accepts protobuf ``POST /v1/traces`` (optionally gzip-encoded) on
127.0.0.1 and keeps the spans as plain ``Span`` records. Point an app at it with
``OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint``. ``/v1/metrics`` and ``/v1/logs`` are
accepted and discarded so that apps exporting those don't log errors.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.support.localhttp import BackgroundHTTPServer, QuietHandler

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, object]


@dataclass(frozen=True)
class Span:
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str | None
    name: str
    kind: int  # opentelemetry.proto.trace.v1.trace_pb2.Span.SpanKind: 1 internal, 2 server, 3 client, ...
    service_name: str
    attributes: dict[str, object]
    status_code: int = 0  # Status.StatusCode: 0 unset, 1 ok, 2 error
    start_ns: int = 0
    end_ns: int = 0
    events: tuple[SpanEvent, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (trace id, span id) of each link

    def event(self, name: str) -> SpanEvent | None:
        """The first event called `name`, if any."""
        return next((e for e in self.events if e.name == name), None)


def _value(value: AnyValue) -> object:
    match value.WhichOneof("value"):
        case "string_value":
            return value.string_value
        case "bool_value":
            return value.bool_value
        case "int_value":
            return value.int_value
        case "double_value":
            return value.double_value
        case "bytes_value":
            return value.bytes_value
        case "array_value":
            return [_value(v) for v in value.array_value.values]
        case "kvlist_value":
            return _attributes(value.kvlist_value.values)
        case _:
            return None


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, object]:
    return {kv.key: _value(kv.value) for kv in pairs}


def decode_spans(request: ExportTraceServiceRequest) -> list[Span]:
    spans: list[Span] = []
    for resource_spans in request.resource_spans:
        service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            spans.extend(
                Span(
                    trace_id=s.trace_id.hex(),
                    span_id=s.span_id.hex(),
                    parent_span_id=s.parent_span_id.hex() or None,
                    name=s.name,
                    kind=s.kind,
                    service_name=service,
                    attributes=_attributes(s.attributes),
                    status_code=s.status.code,
                    start_ns=s.start_time_unix_nano,
                    end_ns=s.end_time_unix_nano,
                    events=tuple(
                        SpanEvent(e.name, e.time_unix_nano, _attributes(e.attributes)) for e in s.events
                    ),
                    links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in s.links),
                )
                for s in scope_spans.spans
            )
    return spans


class OtlpReceiver:
    """Collects exported spans; use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._cond = threading.Condition()
        self._http = BackgroundHTTPServer(self, _OtlpHandler)

    @property
    def endpoint(self) -> str:
        """Base URL for OTEL_EXPORTER_OTLP_ENDPOINT (exporters append ``/v1/traces``)."""
        return self._http.base_url

    @property
    def spans(self) -> list[Span]:
        with self._cond:
            return list(self._spans)

    def clear(self) -> None:
        with self._cond:
            self._spans.clear()

    def wait_for(self, predicate: Callable[[Span], bool], timeout: float = 10.0) -> list[Span]:
        """Block until some received span satisfies ``predicate``; return all that do."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if matched := [s for s in self._spans if predicate(s)]:
                    return matched
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._summary(timeout))
                self._cond.wait(remaining)

    def _summary(self, timeout: float) -> str:
        lines = [f"no matching span within {timeout:g}s; received {len(self._spans)} span(s):"]
        lines += [
            f"  [{s.service_name}] {s.name} kind={s.kind} trace={s.trace_id} span={s.span_id} "
            f"parent={s.parent_span_id} attrs={s.attributes}"
            for s in self._spans[-50:]
        ]
        return "\n".join(lines)

    def _receive(self, spans: list[Span]) -> None:
        with self._cond:
            self._spans.extend(spans)
            self._cond.notify_all()

    def start(self) -> Self:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _OtlpHandler(QuietHandler):
    server: BackgroundHTTPServer[OtlpReceiver]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        if path not in ("/v1/traces", "/v1/metrics", "/v1/logs"):
            self._reply(404)
        elif content_type != "application/x-protobuf":
            self._reply(415)
        elif path != "/v1/traces":
            self._reply(200)
        else:
            try:
                if self.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                spans = decode_spans(ExportTraceServiceRequest.FromString(body))
            except Exception:  # gzip errors or google.protobuf DecodeError (untyped, so not named)
                self._reply(400)
                return
            self.server.app._receive(spans)
            self._reply(200, ExportTraceServiceResponse().SerializeToString())

    def _reply(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
