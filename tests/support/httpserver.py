"""Local HTTP file server for download tests.

``MediaServer(root)`` serves files under ``root`` on ``http://127.0.0.1:PORT`` with Range,
ETag/Last-Modified and HEAD support. Leading path segments switch on misbehaviour and, being
part of the URL path, also apply to relative sub-requests (HLS segments, page links):

- ``/slow/...``     throttle to 64 KiB per 50 ms
- ``/veryslow/...`` throttle to 8 KiB per 50 ms
- ``/stall/...``    send headers and the first 64 KiB of the body, then hang until ``stop()``
- ``/norange/...``  ignore Range, always answer 200 with the whole file

Prefixes can be stacked (``/norange/slow/a.mp4``). ``/status/NNN`` answers with status NNN,
``/redirect?to=URL`` with a 302 to URL, anything else missing with 404. In text files
(.html .rss .m3u8 .xspf .xml .mpd) the token ``{BASE}`` is replaced by ``base_url``.
A file request with ``?disposition=VALUE`` gets ``Content-Disposition: VALUE``.

``MediaServer(root, host="127.0.0.2")`` listens on another loopback address (Linux routes all of
127.0.0.0/8 to ``lo``): tests of the SSRF guard's allowlist use one address as the allowed entry server
and 127.0.0.1 as the "internal" one.

``MediaServer(root, credentials=("user", "secret"))`` answers every request without that HTTP Basic
``Authorization`` with 401 and ``WWW-Authenticate: Basic``; ``RequestRecord.user`` says who was let in.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hmac
import io
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Self
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.localhttp import BackgroundHTTPServer, QuietHandler

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

CONTENT_TYPES: dict[str, str] = {
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".html": "text/html",
    ".rss": "application/rss+xml",
    ".xml": "application/xml",
    ".xspf": "application/xspf+xml",
    ".json": "application/json",
    ".mpd": "application/dash+xml",
    ".vtt": "text/vtt",
    ".txt": "text/plain",
    ".jpg": "image/jpeg",
    ".png": "image/png",
}
TEXT_SUFFIXES = frozenset({".html", ".rss", ".m3u8", ".xspf", ".xml", ".mpd"})

MODES = frozenset({"slow", "veryslow", "stall", "norange"})
THROTTLES: dict[str, tuple[int, float]] = {"slow": (64 * 1024, 0.05), "veryslow": (8 * 1024, 0.05)}
STALL_AFTER = 64 * 1024
_CHUNK = 64 * 1024


@dataclass
class RequestRecord:
    """One request as answered by the server.

    Logged as soon as the status line goes out; ``bytes_sent`` (body bytes) grows while the body
    streams and ``finished`` turns True once the handler is done (for stalls: at ``stop()``).
    """

    method: str
    path: str
    range: str | None
    status: int
    bytes_sent: int = 0
    finished: bool = False
    at: float = field(default_factory=time.monotonic)
    """When the status line went out (this process's monotonic clock)."""
    user: str | None = None
    """The Basic-auth user the request was let in as (servers with ``credentials`` only)."""


class _RangeNotSatisfiable(Exception):
    pass


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Resolve a single ``bytes=`` range to inclusive ``(start, end)``.

    Returns None when the header is absent, malformed or multi-range (serve the whole file);
    raises _RangeNotSatisfiable when it starts past the end.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header.removeprefix("bytes=").strip().partition("-")
    if not sep or not (first or last) or not all(p.isdigit() for p in (first, last) if p):
        return None
    if not first:  # suffix range: the last N bytes
        if int(last) == 0 or size == 0:
            raise _RangeNotSatisfiable
        return max(size - int(last), 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise _RangeNotSatisfiable
    return start, min(int(last), size - 1) if last else size - 1


class MediaServer:
    """Threaded file server for tests; use as a context manager or call start()/stop()."""

    def __init__(
        self, root: Path, host: str = "127.0.0.1", *, credentials: tuple[str, str] | None = None
    ) -> None:
        self.root = root.resolve()
        self.credentials = credentials
        """(user, password) every request must send as HTTP Basic auth; None: anyone is served."""
        self._log: list[RequestRecord] = []
        self._log_changed = threading.Condition()
        self._http: BackgroundHTTPServer[MediaServer] = (
            BackgroundHTTPServer(self, _MediaHandler) if host == "127.0.0.1" else _HostServer(self, host)
        )

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def url(self, path: str) -> str:
        """``base_url`` joined with a server path such as ``"slow/clip.mp4"``."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def start(self) -> Self:
        self._http.start()
        return self

    def stop(self) -> None:
        """Stop serving; stalled and throttled responses are cut off, open connections closed."""
        self._http.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_changed:
            return list(self._log)

    def requests_for(self, path_substring: str) -> list[RequestRecord]:
        return [r for r in self.requests if path_substring in r.path]

    def wait_for_requests(
        self, path_substring: str, count: int = 1, timeout: float = 5.0
    ) -> list[RequestRecord]:
        """Wait until ``count`` matching requests have finished; return the finished matching records."""

        def finished() -> list[RequestRecord]:
            return [r for r in self._log if path_substring in r.path and r.finished]

        with self._log_changed:
            if not self._log_changed.wait_for(lambda: len(finished()) >= count, timeout):
                seen = "\n".join(f"  {r}" for r in self._log)
                raise AssertionError(
                    f"{count} finished request(s) for {path_substring!r} not seen; log:\n{seen}"
                )
            return finished()

    def clear_requests(self) -> None:
        with self._log_changed:
            self._log.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._log_changed:
            self._log.append(record)

    def _finish(self, record: RequestRecord) -> None:
        with self._log_changed:
            record.finished = True
            self._log_changed.notify_all()


def basic_user(header: str | None, credentials: tuple[str, str]) -> str | None:
    """The user of a Basic ``Authorization`` header that carries exactly ``credentials``; else None."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        sent = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        return None
    expected = ":".join(credentials).encode()
    if not hmac.compare_digest(sent, expected):
        return None
    return credentials[0]


class _HostServer(BackgroundHTTPServer["MediaServer"]):
    """A BackgroundHTTPServer bound to another (loopback) address than 127.0.0.1."""

    def __init__(self, app: MediaServer, host: str) -> None:
        self._host = host
        super().__init__(app, _MediaHandler)

    def server_bind(self) -> None:
        self.server_address = (self._host, 0)
        super().server_bind()
        self.server_name = self._host

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.server_port}"


class _MediaHandler(QuietHandler):
    server: BackgroundHTTPServer[MediaServer]

    def do_GET(self) -> None:
        self._handle(send_body=True)

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    def _handle(self, *, send_body: bool) -> None:
        url = urlsplit(self.path)
        parts = [p for p in unquote(url.path).split("/") if p]
        modes: set[str] = set()
        while parts and parts[0] in MODES:
            modes.add(parts.pop(0))
        record = RequestRecord(self.command, self.path, self.headers.get("Range"), 0)
        credentials = self.server.app.credentials
        try:
            if credentials is not None:
                record.user = basic_user(self.headers.get("Authorization"), credentials)
            if credentials is not None and record.user is None:
                challenge = {"WWW-Authenticate": 'Basic realm="media", charset="UTF-8"'}
                self._send_text(record, 401, challenge, send_body=send_body)
            elif len(parts) == 2 and parts[0] == "status" and parts[1].isdigit():
                self._send_text(record, int(parts[1]), send_body=send_body)
            elif parts == ["redirect"] and (target := parse_qs(url.query).get("to")):
                self._send_text(record, 302, {"Location": target[0]}, send_body=send_body)
            elif (path := self._resolve(parts)) is not None:
                disposition = parse_qs(url.query).get("disposition")
                extra = {"Content-Disposition": disposition[0]} if disposition else {}
                self._send_file(record, path, modes, send_body=send_body, extra_headers=extra)
            else:
                self._send_text(record, 404, send_body=send_body)
        except OSError as exc:
            if not isinstance(exc, ConnectionError) and not self.server.stopping.is_set():
                raise
            self.close_connection = True
        finally:
            self.server.app._finish(record)

    def _resolve(self, parts: list[str]) -> Path | None:
        root = self.server.app.root
        path = root.joinpath(*parts).resolve()
        return path if path.is_relative_to(root) and path.is_file() else None

    def _start(self, record: RequestRecord, status: int, headers: dict[str, str]) -> None:
        record.status = status
        self.server.app._record(record)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_text(
        self, record: RequestRecord, status: int, headers: dict[str, str] | None = None, *, send_body: bool
    ) -> None:
        body = b"" if status in (204, 304) or status < 200 else f"{status}\n".encode()
        self._start(
            record,
            status,
            {"Content-Type": "text/plain", "Content-Length": str(len(body)), **(headers or {})},
        )
        if send_body and body:
            self.wfile.write(body)
            record.bytes_sent = len(body)

    def _send_file(
        self,
        record: RequestRecord,
        path: Path,
        modes: set[str],
        *,
        send_body: bool,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        stat = path.stat()
        headers = {
            "Content-Type": CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
            "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
            "ETag": f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"',
            **(extra_headers or {}),
        }
        src: BinaryIO
        if path.suffix.lower() in TEXT_SUFFIXES:
            src = io.BytesIO(path.read_bytes().replace(b"{BASE}", self.server.base_url.encode()))
        else:
            src = path.open("rb")
        with src:
            size = src.seek(0, io.SEEK_END)
            span: tuple[int, int] | None = None
            if "norange" not in modes:
                headers["Accept-Ranges"] = "bytes"
                try:
                    span = _parse_range(record.range, size)
                except _RangeNotSatisfiable:
                    headers.update({"Content-Range": f"bytes */{size}", "Content-Length": "0"})
                    self._start(record, 416, headers)
                    return
            start, end = span if span is not None else (0, size - 1)
            headers["Content-Length"] = str(end - start + 1)
            if span is not None:
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            self._start(record, 206 if span is not None else 200, headers)
            if send_body:
                src.seek(start)
                self._stream(record, src, end - start + 1, modes)

    def _stream(self, record: RequestRecord, src: BinaryIO, length: int, modes: set[str]) -> None:
        chunk, interval = next((THROTTLES[m] for m in ("veryslow", "slow") if m in modes), (_CHUNK, 0.0))
        stopping = self.server.stopping
        while record.bytes_sent < length:
            limit = length - record.bytes_sent
            if "stall" in modes:
                if record.bytes_sent >= STALL_AFTER:
                    stopping.wait()
                    self.close_connection = True
                    return
                limit = min(limit, STALL_AFTER - record.bytes_sent)
            if record.bytes_sent and interval and stopping.wait(interval):
                self.close_connection = True
                return
            data = src.read(min(chunk, limit))
            if not data:  # file shrank underneath us
                self.close_connection = True
                return
            self.wfile.write(data)
            record.bytes_sent += len(data)
