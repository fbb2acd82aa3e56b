"""The yt-dlp child process and its async runner, against a local HTTP server (no internet)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from yt_dlp.networking import Response
from yt_dlp.networking.exceptions import HTTPError, IncompleteRead, TransportError
from yt_dlp.utils import ContentTooShortError, DownloadError, ExtractorError, UnsupportedError

from downloader import child_runner, forkserver
from downloader.child_protocol import (
    ChildSpec,
    DoneEvent,
    FailedEvent,
    ProgressEvent,
    dump_event,
    parse_child_line,
)
from downloader.child_runner import run_child
from downloader.failures import FileTooLargeError, TruncatedDownloadError, classify, is_range_not_satisfiable
from downloader.media_probe import probe, sha256_of
from downloader.progress_hook import ProgressTracker
from jobcommon.child_process import ChildFailed
from jobcommon.netguard import BlockedAddressError, UnsupportedUrlError, check_url_scheme, is_public_ip
from jobcommon.sniff import sniff
from jobcommon.ytdlp.failures import one_line
from tests.support.specs import child_spec

# --------------------------------------------------------------------------------------------
# Local media server: Range/206/416, throttling, stalls, truncation, status codes, request log.
# --------------------------------------------------------------------------------------------

_RANGE_RE = re.compile(r"bytes=(\d+)-(\d*)$")
_CHUNK = 65536


@dataclass
class Hit:
    method: str
    path: str
    range: str | None
    status: int


@dataclass
class MediaServer:
    files: dict[str, bytes]
    base: str = ""
    log: list[Hit] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, route: str, name: str) -> str:
        return f"{self.base}/{route}/{name}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    media: MediaServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _status_only(self, status: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self, *, body: bool) -> None:
        media = self.server.media
        range_header = self.headers.get("Range")
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        route, name = (parts[0], parts[-1]) if len(parts) >= 2 else ("", "")
        data = media.files.get(name)
        status = 200
        try:
            if route == "status":
                status = int(name)
                self._status_only(status)
                return
            if data is None:
                status = 404
                self._status_only(404)
                return
            start, end = 0, len(data) - 1
            match = _RANGE_RE.match(range_header or "")
            if match and route != "norange":
                start = int(match.group(1))
                if start >= len(data):
                    status = 416
                    self._status_only(416, {"Content-Range": f"bytes */{len(data)}"})
                    return
                if match.group(2):
                    end = min(int(match.group(2)), len(data) - 1)
                status = 206
            self.send_response(status)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
            self.send_header("Content-Length", str(end - start + 1))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if body:
                self._send_body(route, data[start : end + 1])
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            media.log.append(Hit(self.command, self.path, range_header, status))

    def _send_body(self, route: str, payload: bytes) -> None:
        media = self.server.media
        if route == "stall":  # headers + 128 KiB, then nothing until the test ends
            self.wfile.write(payload[: 2 * _CHUNK])
            self.wfile.flush()
            media.release.wait(30)
        elif route == "truncate":  # announce everything, send half, hang up
            self.wfile.write(payload[: len(payload) // 2])
        elif route == "slow":  # ~3 MB/s
            for offset in range(0, len(payload), _CHUNK):
                self.wfile.write(payload[offset : offset + _CHUNK])
                self.wfile.flush()
                time.sleep(0.02)
        else:
            self.wfile.write(payload)


def _write_video(path: Path, size: tuple[int, int], frames: int, *, noise: bool) -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 25.0, size)
    assert writer.isOpened(), "cv2.VideoWriter(mp4v) could not be opened"
    rng = np.random.default_rng(1234)
    width, height = size
    for i in range(frames):
        if noise:
            frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        else:
            frame = np.full((height, width, 3), (i * 3) % 256, dtype=np.uint8)
            cv2.putText(frame, str(i), (40, 140), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 4)
        writer.write(frame)
    writer.release()
    return path.read_bytes()


@pytest.fixture(scope="module")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("media")
    small = _write_video(root / "small.mp4", (320, 240), 75, noise=False)  # 3 s
    big = _write_video(root / "big.mp4", (640, 480), 25, noise=True)  # ~3 MB
    assert 2_000_000 <= len(big) <= 4_500_000, len(big)
    return {"small.mp4": small, "big.mp4": big}


@pytest.fixture(scope="module")
def server(media_files: dict[str, bytes]) -> Iterator[MediaServer]:
    media = MediaServer(files=media_files)
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.media = media
    media.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield media
    finally:
        media.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class _Progress:
    """Collects byte progress (``events``) and stage changes (``stages``)."""

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []
        self.stages: list[str] = []
        self.times: list[float] = []
        self.first = asyncio.Event()

    async def __call__(self, event: ProgressEvent) -> None:
        if event.downloaded_bytes is None and event.total_bytes is None:
            self.stages.append(event.stage)
            return
        self.events.append(event)
        self.times.append(time.monotonic())
        self.first.set()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


async def _dies(pid: int, timeout: float = 5.0) -> bool:
    """The process is gone or dead (a zombie waiting for whoever adopted it), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _state(pid) in (None, "Z", "X"):
            return True
        await asyncio.sleep(0.05)
    return False


def _hits(server: MediaServer, tag: str) -> list[Hit]:
    return [hit for hit in server.log if f"case={tag}" in hit.path]


# --------------------------------------------------------------------------------------------
# Child process end to end
# --------------------------------------------------------------------------------------------


async def test_download_succeeds_with_progress_and_probe(server: MediaServer, tmp_path: Path) -> None:
    """A download ends in a DoneEvent with hash, size and probed dimensions, after full progress."""
    data = server.files["small.mp4"]
    progress = _Progress()
    pids: list[int] = []
    url = server.url("media", "small.mp4") + "?case=ok"
    done = await run_child(child_spec(tmp_path, url), progress, on_spawn=pids.append)

    assert isinstance(done, DoneEvent)
    assert done.path == str(tmp_path / "out" / "media.mp4")
    assert sha256_of(done.path) == hashlib.sha256(data).hexdigest()
    assert done.size == len(data)
    assert done.sha256 == hashlib.sha256(data).hexdigest()
    assert done.ext == "mp4"
    assert (done.width, done.height) == (320, 240)
    assert done.duration == pytest.approx(3.0, abs=0.1)
    assert done.extractor == "generic"
    assert done.webpage_url == url
    assert progress.events
    assert progress.events[-1].downloaded_bytes == len(data)
    assert progress.events[-1].total_bytes == len(data)
    assert not list((tmp_path / "tmp").glob("*.part"))
    assert _gone(pids[0])


async def test_throttled_download_reports_rate_limited_progress(server: MediaServer, tmp_path: Path) -> None:
    """Progress of a slow download is monotonic, carries the total and goes out at most every 0.2 s."""
    data = server.files["big.mp4"]
    progress = _Progress()
    done = await run_child(child_spec(tmp_path, server.url("slow", "big.mp4")), progress)

    assert done.sha256 == hashlib.sha256(data).hexdigest()
    assert (done.width, done.height) == (640, 480)
    events = progress.events
    assert len(events) >= 3
    assert all(e.total_bytes == len(data) for e in events)
    sizes = [e.downloaded_bytes or 0 for e in events]
    assert sizes == sorted(sizes)
    assert sizes[-1] == len(data)
    # yt-dlp calls the hook once per 64 KiB block (~50 times); the child forwards at most one per 0.2 s
    assert len(events) < len(data) // _CHUNK


async def _outcome(spec: ChildSpec) -> DoneEvent | ChildFailed:
    try:
        return await run_child(spec, _Progress())
    except ChildFailed as failure:
        return failure


@pytest.fixture(scope="module")
async def failures(server: MediaServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ChildFailed]:
    """The failing downloads, run concurrently once (each child costs ~1-2 s of imports)."""
    root = tmp_path_factory.mktemp("failures")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    specs = {
        "http_404": child_spec(root / "a", server.url("media", "missing.mp4")),
        "http_503": child_spec(root / "b", server.url("status", "503")),
        "refused": child_spec(root / "c", f"http://127.0.0.1:{closed_port}/media/small.mp4", retries=0),
        "truncated": child_spec(root / "d", server.url("truncate", "big.mp4"), retries=0),
        "ssrf": child_spec(
            root / "e", server.url("media", "small.mp4?case=ssrf"), allow_private_networks=False
        ),
        "ftp": child_spec(root / "f", "ftp://127.0.0.1/media/small.mp4"),
        "file": child_spec(root / "g", "file:///etc/passwd"),
        "too_large": child_spec(root / "h", server.url("media", "big.mp4"), max_filesize=100_000),
    }
    outcomes = await asyncio.gather(*(_outcome(spec) for spec in specs.values()))
    results: dict[str, ChildFailed] = {}
    for (name, spec), outcome in zip(specs.items(), outcomes, strict=True):
        assert isinstance(outcome, ChildFailed), f"{name}: expected a failure, got {outcome!r}"
        assert "\n" not in outcome.message
        assert not outcome.message.startswith("ERROR")
        assert "\x1b[" not in outcome.message
        assert not (Path(spec.output_dir) / "media.mp4").exists(), name
        results[name] = outcome
    return results


def test_http_404_is_permanent(failures: dict[str, ChildFailed]) -> None:
    """HTTP 404 fails permanently as HTTPError, with a one-line message."""
    failure = failures["http_404"]
    assert (failure.kind, failure.error_type) == ("permanent", "HTTPError")
    assert "404" in failure.message
    assert "caused by" not in failure.message


def test_http_503_is_transient(failures: dict[str, ChildFailed]) -> None:
    """HTTP 503 fails transiently as HTTPError."""
    failure = failures["http_503"]
    assert (failure.kind, failure.error_type) == ("transient", "HTTPError")
    assert "503" in failure.message


def test_connection_refused_is_transient(failures: dict[str, ChildFailed]) -> None:
    """A refused connection fails transiently."""
    failure = failures["refused"]
    assert failure.kind == "transient"
    assert "refused" in failure.message.lower()


def test_truncated_response_is_transient(failures: dict[str, ChildFailed]) -> None:
    """A response shorter than announced fails transiently."""
    assert failures["truncated"].kind == "transient"


def test_private_address_blocked_before_any_request(
    failures: dict[str, ChildFailed], server: MediaServer
) -> None:
    """A private address is refused by the connect guard before a single request reaches it."""
    failure = failures["ssrf"]
    assert (failure.kind, failure.error_type) == ("permanent", "BlockedAddressError")
    assert failure.message == "connection to non-public address 127.0.0.1 blocked"
    assert _hits(server, "ssrf") == []


def test_non_http_schemes_are_permanent(failures: dict[str, ChildFailed]) -> None:
    """ftp:// and file:// URLs fail permanently as UnsupportedUrlError."""
    for name in ("ftp", "file"):
        failure = failures[name]
        assert (failure.kind, failure.error_type) == ("permanent", "UnsupportedUrlError"), name
        assert name in failure.message


def test_max_filesize_is_permanent(failures: dict[str, ChildFailed]) -> None:
    """Media larger than max_filesize fails permanently as FileTooLargeError."""
    failure = failures["too_large"]
    assert (failure.kind, failure.error_type) == ("permanent", "FileTooLargeError")


async def test_cancel_during_stall_kills_child_fast(server: MediaServer, tmp_path: Path) -> None:
    """Cancelling a stalled download kills the child's process group within 1 s; the .part stays."""
    progress = _Progress()
    pids: list[int] = []
    spec = child_spec(tmp_path, server.url("stall", "big.mp4"), socket_timeout=60.0)
    task = asyncio.create_task(run_child(spec, progress, on_spawn=pids.append))
    await asyncio.wait_for(progress.first.wait(), 20)
    await asyncio.sleep(0.3)  # the server now sends nothing; the child sits in recv()
    assert not task.done()
    pid = pids[0]
    assert not _gone(pid)

    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    elapsed = time.monotonic() - started

    assert elapsed < 1.0, elapsed
    assert _gone(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nothing left in the child's process group
    assert list((tmp_path / "tmp").glob("media.mp4.part"))  # kept for a resume


async def test_child_exiting_without_result_is_reported_as_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A child that exits without a final event is a transient ChildCrashed with its exit code."""
    # `python -m json.tool` echoes the spec as pretty JSON (not protocol lines) and exits 0.
    monkeypatch.setattr(child_runner, "CHILD_MODULE", "json.tool")
    failure = await _outcome(child_spec(tmp_path, "http://example.invalid/x.mp4"))
    assert isinstance(failure, ChildFailed)
    assert (failure.kind, failure.error_type) == ("transient", "ChildCrashed")
    assert "exited with code 0" in failure.message

    monkeypatch.setattr(child_runner, "CHILD_MODULE", "downloader.no_such_module")
    failure = await _outcome(child_spec(tmp_path, "http://example.invalid/x.mp4"))
    assert isinstance(failure, ChildFailed)
    assert (failure.kind, failure.error_type) == ("transient", "ChildCrashed")
    assert "exited with code 1" in failure.message
    assert "exited with code 1 without a result; its last output: " in failure.message
    assert "No module named downloader.no_such_module" in failure.message


async def test_forked_child_is_a_named_group_leader_under_the_zygote(
    server: MediaServer, tmp_path: Path
) -> None:
    """A forked child is named ytdlp_child, leads its own session and group, and is reaped."""
    seen: dict[str, object] = {}
    pids: list[int] = []

    def proc_info(pid: int) -> dict[str, object]:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        return {"comm": comm, "ppid": int(stat[1]), "pgid": os.getpgid(pid), "sid": os.getsid(pid)}

    async def look(event: ProgressEvent) -> None:
        if not seen and pids:
            seen.update(await asyncio.to_thread(proc_info, pids[0]))

    done = await run_child(child_spec(tmp_path, server.url("slow", "big.mp4")), look, on_spawn=pids.append)
    assert done.sha256 == hashlib.sha256(server.files["big.mp4"]).hexdigest()
    zygote = forkserver.fork_server().pid
    assert zygote is not None
    assert seen == {"comm": "ytdlp_child", "ppid": zygote, "pgid": pids[0], "sid": pids[0]}
    assert _gone(pids[0])  # reaped, no zombie left


async def test_executed_child_still_works(server: MediaServer, tmp_path: Path) -> None:
    """Without the fork server, an executed child downloads and is reaped."""
    pids: list[int] = []
    done = await run_child(
        child_spec(tmp_path, server.url("media", "small.mp4")),
        _Progress(),
        on_spawn=pids.append,
        forkserver=False,
    )
    assert done.sha256 == hashlib.sha256(server.files["small.mp4"]).hexdigest()
    assert _gone(pids[0])


async def test_dead_zygote_fails_its_children_transiently_and_comes_back(
    server: MediaServer, tmp_path: Path
) -> None:
    """A killed zygote fails its child transiently, takes it along, and a new zygote serves on."""
    progress = _Progress()
    pids: list[int] = []
    task = asyncio.create_task(
        run_child(
            child_spec(tmp_path / "a", server.url("stall", "big.mp4"), socket_timeout=60.0),
            progress,
            on_spawn=pids.append,
        )
    )
    await asyncio.wait_for(progress.first.wait(), 20)
    zygote = forkserver.fork_server().pid
    assert zygote is not None
    os.kill(zygote, signal.SIGKILL)
    with pytest.raises(ChildFailed) as info:
        await asyncio.wait_for(task, 10)
    assert (info.value.kind, info.value.error_type) == ("transient", "ChildCrashed")
    assert await _dies(pids[0])  # PDEATHSIG took the child along
    done = await run_child(child_spec(tmp_path / "b", server.url("media", "small.mp4")), _Progress())
    assert done.size == len(server.files["small.mp4"])
    assert forkserver.fork_server().pid not in (None, zygote)


async def test_complete_part_file_416_restarts_from_scratch(server: MediaServer, tmp_path: Path) -> None:
    """A complete .part file answered with HTTP 416 is wiped and the download starts again from zero."""
    data = server.files["small.mp4"]
    spec = child_spec(tmp_path, server.url("media", "small.mp4?case=416"))
    first = await run_child(spec, _Progress())  # leaves the resume record of the remote file in tmp/
    temp = tmp_path / "tmp"
    assert (temp / ".resume.json").is_file()
    os.replace(first.path, temp / "media.mp4.part")  # a crash after the last byte, before the rename
    server.log.clear()
    done = await run_child(spec, _Progress())

    assert done.sha256 == hashlib.sha256(data).hexdigest()
    hits = _hits(server, "416")
    first_416 = next(i for i, hit in enumerate(hits) if hit.status == 416)
    assert any(hit.method == "GET" and hit.range is None and hit.status == 200 for hit in hits[first_416:])


# --------------------------------------------------------------------------------------------
# Units: classify(), one_line(), netguard, probe, protocol
# --------------------------------------------------------------------------------------------


def _http_error(status: int) -> HTTPError:
    return HTTPError(Response(io.BytesIO(b""), "http://example.com/v.mp4", {}, status=status))


def _wrapped(exc: BaseException, message: str = "ERROR: wrapped") -> DownloadError:
    """What YoutubeDL.trouble() raises: DownloadError(msg, exc_info)."""
    return DownloadError(message, (type(exc), exc, None))


def _extractor_error(cause: BaseException) -> ExtractorError:
    try:
        raise cause
    except BaseException:
        return ExtractorError("Unable to download webpage", cause=cause)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "permanent"),
        (401, "permanent"),
        (403, "permanent"),
        (404, "permanent"),
        (410, "permanent"),
        (408, "transient"),
        (416, "transient"),
        (425, "transient"),
        (429, "transient"),
        (500, "transient"),
        (502, "transient"),
        (503, "transient"),
    ],
)
def test_classify_http_status(status: int, kind: str) -> None:
    """HTTP 408/416/425/429/5xx are transient, other statuses permanent, however deeply wrapped."""
    err = _http_error(status)
    assert classify(err) == (kind, "HTTPError")
    assert classify(_wrapped(err)) == (kind, "HTTPError")
    assert classify(_wrapped(_extractor_error(err))) == (kind, "HTTPError")
    assert is_range_not_satisfiable(_wrapped(err)) is (status == 416)


def _transport(cause: BaseException) -> TransportError:
    try:
        raise cause
    except BaseException as exc:
        try:
            raise TransportError(cause=exc) from exc
        except TransportError as transport:
            return transport


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_transport(ConnectionRefusedError(111, "Connection refused")), "transient"),
        (_transport(TimeoutError("timed out")), "transient"),
        (_transport(socket.gaierror(-2, "Name or service not known")), "transient"),
        (IncompleteRead(100, 200), "transient"),
        (ContentTooShortError(100, 200), "transient"),
        (TimeoutError("timed out"), "transient"),
        (ConnectionResetError(104, "reset"), "transient"),
        (OSError(28, "No space left on device"), "transient"),
        (TruncatedDownloadError("short"), "transient"),
        (UnsupportedError("http://example.com/page.html"), "permanent"),
        (ExtractorError("'not a url' is not a valid URL", expected=True), "permanent"),
        (ExtractorError("some extractor bug"), "permanent"),
        (UnsupportedUrlError("ftp"), "permanent"),
        (FileTooLargeError("big"), "permanent"),
        (ValueError("something unknown"), "permanent"),
        (_transport(BlockedAddressError("connection to non-public address 10.0.0.1 blocked")), "permanent"),
    ],
)
def test_classify_exception_classes(exc: BaseException, kind: str) -> None:
    """Network, disk and yt-dlp exception classes get their verdict, also inside a DownloadError."""
    assert classify(exc)[0] == kind
    assert classify(_wrapped(exc))[0] == kind


def test_classify_text_only_download_errors() -> None:
    """A DownloadError that kept only its text is transient after 'Got error:', permanent otherwise."""
    got_error = DownloadError(
        "ERROR: [download] Got error: Downloaded 2000000 bytes, expected 3825082 bytes."
        " Giving up after 1 retries"
    )
    assert classify(got_error) == ("transient", "DownloadError")
    timed_out = DownloadError("ERROR: [download] Got error: timed out", (None, None, None))
    assert classify(timed_out) == ("transient", "DownloadError")
    assert classify(DownloadError("ERROR: something else entirely"))[0] == "permanent"


def test_blocked_fragment_known_only_by_its_text_is_permanent() -> None:
    """The guard's message in a text-only DownloadError makes a permanent BlockedAddressError."""
    # yt-dlp's fragment downloader keeps only the text of a failed HLS segment
    err = DownloadError(
        "ERROR: [download] Got error: HTTPConnection(host='10.0.0.7', port=80): Failed to establish a new "
        "connection: connection to non-public address 10.0.0.7 blocked"
    )
    assert classify(err) == ("permanent", "BlockedAddressError")
    assert one_line(err) == "connection to non-public address 10.0.0.7 blocked"


def test_blocked_address_wins_anywhere_in_the_chain() -> None:
    """A BlockedAddressError anywhere in the chain, even as context, decides verdict and message."""
    blocked = BlockedAddressError("connection to non-public address 169.254.169.254 blocked")
    # Even under a transient-looking wrapper and only as implicit context, as requests does it.
    try:
        try:
            raise blocked
        except BlockedAddressError:
            raise ConnectionError("Max retries exceeded") from None
    except ConnectionError as conn:
        conn.__suppress_context__ = False
        conn.__context__ = blocked
        err = _wrapped(_transport(conn), "ERROR: [generic] x: Unable to download webpage: ...")
    assert classify(err) == ("permanent", "BlockedAddressError")
    assert one_line(err) == "connection to non-public address 169.254.169.254 blocked"


def test_one_line_cleans_messages() -> None:
    """one_line drops ANSI codes, prefix, traceback, caused-by tail and bug plea; caps the length."""
    msg = (
        "\x1b[0;31mERROR:\x1b[0m [generic] missing: Unable to download webpage: HTTP Error 404: Not Found"
        " (caused by <HTTPError 404: Not Found>)\nTraceback (most recent call last):\n  File ..."
    )
    assert one_line(DownloadError(msg)) == (
        "[generic] missing: Unable to download webpage: HTTP Error 404: Not Found"
    )
    bug = ExtractorError("boom")  # not expected -> yt-dlp appends a bug-report plea
    assert one_line(bug) == "boom"
    assert one_line(ValueError()) == "ValueError"
    assert len(one_line(ValueError("x" * 5000))) <= 500


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("2002:0a00:0001::1", False),
        ("64:ff9b::a00:1", False),
        ("not-an-ip", False),
    ],
)
def test_is_public_ip(address: str, public: bool) -> None:
    """Only global unicast addresses count as public (mapped, embedded and scoped forms included)."""
    assert is_public_ip(address) is public


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.mp4",
        "file:///etc/passwd",
        "data:text/plain,hi",
        "example.com/a.mp4",
        "http://",
        "http:///x",
    ],
)
def test_check_url_scheme_rejects(url: str) -> None:
    """URLs that are not http(s) with a host are refused."""
    with pytest.raises(UnsupportedUrlError):
        check_url_scheme(url)


@pytest.mark.parametrize(
    "url", ["http://example.com/a.mp4", "HTTPS://example.com:8443/a?b=c", "http://[::1]/x"]
)
def test_check_url_scheme_accepts(url: str) -> None:
    """http(s) URLs with a host pass, whatever their case, port or IPv6 host."""
    try:
        check_url_scheme(url)
    except UnsupportedUrlError as exc:
        pytest.fail(f"{url} was refused: {exc}")


def test_probe_and_hash(media_files: dict[str, bytes], tmp_path: Path) -> None:
    """The probe reads a real video's facts, hashes any file, and never decodes a playlist saved as media."""
    video = tmp_path / "v.mp4"
    video.write_bytes(media_files["small.mp4"])
    info = probe(video)
    assert (info.width, info.height, info.frame_count) == (320, 240, 75)
    assert info.fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(3.0)
    assert sniff(video).container == "mp4"
    assert sha256_of(video) == hashlib.sha256(media_files["small.mp4"]).hexdigest()

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # spans several 1 MiB chunks
    assert sha256_of(big) == hashlib.sha256(big.read_bytes()).hexdigest()

    playlist = tmp_path / "media.mp4"  # an HLS playlist saved under a media name is never decoded
    playlist.write_text("#EXTM3U\n#EXTINF:1,\nfile:///etc/hostname\n#EXT-X-ENDLIST\n")
    for path in (playlist, big, tmp_path / "missing.mp4"):
        assert probe(path).duration is None
        assert probe(path).width is None
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096))
    broken = probe(garbage)
    assert broken.width is None or broken.width > 0


def test_protocol_round_trip(tmp_path: Path) -> None:
    """Every protocol event survives dump and parse; a spec with a relative directory is refused."""
    events: list[ProgressEvent | DoneEvent | FailedEvent] = [
        ProgressEvent(downloaded_bytes=1, total_bytes=2, speed=3.5, eta=None),
        DoneEvent(path="/x/media.mp4", size=1, sha256="ab", title=None, ext="mp4"),
        FailedEvent(kind="transient", error_type="TransportError", message="timed out"),
    ]
    for event in events:
        assert parse_child_line(dump_event(event)) == event
    with pytest.raises(ValueError, match="absolute"):
        ChildSpec(url="http://a/b", output_dir="rel", temp_dir=str(tmp_path))


def test_progress_hook_rate_limit_size_limit_and_truncation(tmp_path: Path) -> None:
    """The hook rate-limits events, enforces the size limit, spots short files, uses estimates."""
    now = [100.0]
    sent: list[object] = []
    tracker = ProgressTracker(sent.append, max_filesize=10_000, clock=lambda: now[0])
    part = tmp_path / "media.mp4"
    part.write_bytes(b"x" * 5000)

    def hook(status: str, downloaded: int, **extra: object) -> None:
        tracker({"status": status, "downloaded_bytes": downloaded, "filename": str(part), **extra})

    for i in range(1, 11):  # ten hook calls within 0.1 s: only the first goes out
        hook("downloading", i * 100, total_bytes=8000, speed=1.5)
        now[0] += 0.01
    assert len(sent) == 1
    now[0] += 0.2
    hook("downloading", 2000, total_bytes=8000)
    assert len(sent) == 2
    hook("finished", 5000, total_bytes=5000)  # always sent; 5000 on disk but 8000 announced
    assert len(sent) == 3
    last = sent[-1]
    assert isinstance(last, ProgressEvent)
    assert (last.downloaded_bytes, last.total_bytes) == (5000, 5000)
    assert tracker.truncated is not None
    assert "8000" in tracker.truncated

    with pytest.raises(FileTooLargeError):
        hook("downloading", 10_001)
    estimate = ProgressTracker(sent.append, max_filesize=None)
    estimate(
        {"status": "downloading", "downloaded_bytes": 1, "total_bytes_estimate": 99.0, "fragment_index": 3}
    )
    assert sent[-1] == ProgressEvent(downloaded_bytes=1, total_bytes=99, fragment_index=3)
