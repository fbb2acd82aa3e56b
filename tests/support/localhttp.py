"""A ThreadingHTTPServer on 127.0.0.1 that runs in the background and stops cleanly.

Shared plumbing for the test servers in this package (``MediaServer``, ``OtlpReceiver``):
free port, daemon handler threads, quiet client disconnects, and a ``stop()`` that wakes
handlers waiting on ``stopping``, closes lingering keep-alive connections and waits for the
handler threads to finish, so no sockets leak into later tests.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

AppT = TypeVar("AppT")

_Request = socket.socket | tuple[bytes, socket.socket]


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler base that writes nothing to stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass


class BackgroundHTTPServer(ThreadingHTTPServer, Generic[AppT]):
    """Threaded HTTP server bound to a free port on 127.0.0.1; handlers reach ``app`` via ``self.server``."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, app: AppT, handler: type[BaseHTTPRequestHandler]) -> None:
        self.app = app
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", 0), handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a reverse DNS lookup we don't need.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.socket.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def start(self) -> None:
        if self._thread is not None or self.stopping.is_set():
            raise RuntimeError(f"{self.base_url} was already started")
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=self.base_url, daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()
        with self._cond:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._cond.wait_for(lambda: not self._open, timeout)

    def process_request(self, request: _Request, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._cond:
                self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        try:
            super().shutdown_request(request)
        finally:
            with self._cond:
                if isinstance(request, socket.socket):
                    self._open.discard(request)
                self._cond.notify_all()

    def handle_error(self, request: _Request, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError) or (isinstance(exc, OSError) and self.stopping.is_set()):
            return  # client went away, or we closed the connection ourselves during stop()
        super().handle_error(request, client_address)
