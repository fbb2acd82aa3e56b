"""`mediajobs watch` rides out a gateway that goes away: its event stream is opened again (the stream starts
with the job's state, so nothing is missed) until the job ends, or gives up after a bounded time. Against a
real HTTP server on 127.0.0.1 that drops the connection mid-stream, then answers 503, then serves the end."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mediajobs_cli.api import Api, ApiError
from mediajobs_cli.config import Config
from mediajobs_cli.exit_codes import ExitCode

TASK = "0f" * 16
LINGER_NONE = struct.pack("ii", 1, 0)


def _event(kind: str, status: str, percent: float | None = None) -> bytes:
    job = {"task_id": TASK, "status": status, "progress": {"percent": percent}}
    return f"event: {kind}\ndata: {json.dumps(job)}\n\n".encode()


class _Gateway(BaseHTTPRequestHandler):
    """Answers /jobs/{TASK}/events by the script: each connection takes the next step."""

    steps: list[str]
    seen: list[str]

    def do_GET(self) -> None:
        step = self.steps.pop(0) if self.steps else "reset"
        self.seen.append(step)
        if step == "503":
            self.send_response(503)
            self.send_header("Content-Type", "application/problem+json")
            self.end_headers()
            self.wfile.write(b'{"detail": "the job store is unavailable; try again"}')
            return
        if step == "reset":  # the connection drops at once (a gateway killed)
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.connection.close()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = {
            "running-then-drop": [_event("status", "running"), _event("progress", "running", 40.0)],
            "to-the-end": [_event("status", "running", 70.0), _event("status", "succeeded", 100.0)],
            "running-then-close": [_event("status", "running", 50.0)],
        }[step]
        for data in events:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        if step == "running-then-drop":  # mid-stream: no closing chunk, the socket just goes
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.connection.close()
            return
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def gateway(steps: list[str]) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Scripted", (_Gateway,), {"steps": list(steps), "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_broken_stream_is_opened_again_until_the_job_ends() -> None:
    """Dropped mid-stream, refused (connection reset), 503, closed early while running: each is opened again;
    the events after it are the job's state, and the job's end ends the stream."""
    script = ["running-then-drop", "reset", "503", "running-then-close", "to-the-end"]
    with gateway(script) as (url, seen), Api(Config(url=url, api_key=None)) as api:
        started = time.monotonic()
        events = [(e.kind, e.job["status"], e.job["progress"]["percent"]) for e in api.events(TASK)]
    assert seen == script
    assert events == [
        ("status", "running", None),
        ("progress", "running", 40.0),
        ("status", "running", 50.0),
        ("status", "running", 70.0),
        ("status", "succeeded", 100.0),
    ]
    assert time.monotonic() - started < 30


def test_a_gateway_that_does_not_come_back_ends_the_watch_saying_so() -> None:
    with gateway(["running-then-drop"]) as (url, seen), Api(Config(url=url, api_key=None)) as api:
        started = time.monotonic()
        got: list[object] = []
        with pytest.raises(ApiError) as failed:
            got.extend(api.events(TASK, reconnect_for_s=2.0))
    assert len(got) == 2
    assert failed.value.code == ExitCode.API_ERROR
    assert "did not come back in 2 s" in str(failed.value)
    assert len(seen) >= 3  # tried again, with pauses
    assert 2.0 <= time.monotonic() - started < 20


def test_an_answer_no_retry_changes_ends_at_once() -> None:
    """A 404 (the job is gone, or not yours) is not tried again."""

    class Missing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Type", "application/problem+json")
            self.end_headers()
            self.wfile.write(b'{"detail": "no job with task id"}')

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Missing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Api(Config(url=f"http://127.0.0.1:{server.server_address[1]}", api_key=None)) as api:
            started = time.monotonic()
            with pytest.raises(ApiError) as failed:
                list(api.events(TASK))
        assert failed.value.code == ExitCode.NOT_FOUND
        assert time.monotonic() - started < 5
    finally:
        server.shutdown()
        server.server_close()
