"""An OTLP/HTTP endpoint that accepts span exports and drops them, so a benchmarked service exports its
traces as it would in production (encoding, batching, HTTP) without a collector.

It runs in a process of its own (`python -m bench.otlp_sink`, which prints its endpoint): a bench that
measures from its own process (the progress bench's SSE client) must not share its interpreter lock with
the sink's request threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


class Sink:
    """The sink's process; `shutdown()` stops it."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.otlp_sink"],
            stdin=subprocess.PIPE,  # closed when this process ends, however it ends: the sink then exits
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self._process.stdout is not None
        self.endpoint = self._process.stdout.readline().strip()
        if not self.endpoint.startswith("http://"):
            self.shutdown()
            raise RuntimeError("the OTLP sink did not start")

    def shutdown(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def start_sink() -> tuple[Sink, str]:
    """The running sink (call `shutdown()` when done) and its OTEL_EXPORTER_OTLP_ENDPOINT."""
    sink = Sink()
    return sink, sink.endpoint


def _exit_with_parent() -> None:
    sys.stdin.read()  # EOF: the bench that started the sink is gone
    os._exit(0)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
