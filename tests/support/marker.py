"""A marker HTTP server on 127.0.0.1 that counts every connection made to it (and the paths asked for).

Hostile files name its URL; a test then asserts that nothing ever connected. Connections are counted when
accepted, before any request line, so a client that connects and gives up still counts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Self

from tests.support.localhttp import BackgroundHTTPServer, QuietHandler

if TYPE_CHECKING:
    from types import TracebackType


class _MarkerHandler(QuietHandler):
    server: _MarkerHTTPServer

    def do_GET(self) -> None:
        self.server.app.paths.append(self.path)
        body = b"\x47" + b"\x00" * 187  # one MPEG-TS packet, should anything play the segment
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _MarkerHTTPServer(BackgroundHTTPServer["MarkerServer"]):
    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.app.count()
        return True


class MarkerServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connections = 0
        self.paths: list[str] = []
        self._server = _MarkerHTTPServer(self, _MarkerHandler)

    def count(self) -> None:
        with self._lock:
            self.connections += 1

    def url(self, path: str) -> str:
        return f"{self._server.base_url}/{path.lstrip('/')}"

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()
