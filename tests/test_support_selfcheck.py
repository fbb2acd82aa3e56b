"""Quick checks that the helpers in tests.support behave as documented."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import cv2
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from tests.support.httpserver import STALL_AFTER, MediaServer
from tests.support.media import MediaInfo, make_av_pair, make_hls, make_mp4, probe, sha256_file
from tests.support.otlp import OtlpReceiver

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BLOB_SIZE = 1024 * 1024


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    (root / "blob.bin").write_bytes(os.urandom(BLOB_SIZE))
    (root / "page.html").write_text('<a href="{BASE}/blob.bin">blob</a>')
    for name in ("a.webm", "a.m4a", "a.ts", "a.rss", "a.jpg"):
        (root / name).write_bytes(b"x")
    return root


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[MediaServer]:
    with MediaServer(root) as server:
        yield server


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def test_range_head_and_validators(server: MediaServer, root: Path, client: httpx.Client) -> None:
    blob = (root / "blob.bin").read_bytes()
    r = client.get(server.url("blob.bin"), headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206
    assert r.content == blob[1000:2000]
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{BLOB_SIZE}"
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["ETag"]
    assert r.headers["Last-Modified"]

    suffix = client.get(server.url("blob.bin"), headers={"Range": "bytes=-10"})
    assert (suffix.status_code, suffix.content) == (206, blob[-10:])
    past_end = client.get(server.url("blob.bin"), headers={"Range": f"bytes={BLOB_SIZE}-"})
    assert past_end.status_code == 416
    assert past_end.headers["Content-Range"] == f"bytes */{BLOB_SIZE}"

    head = client.head(server.url("blob.bin"))
    assert (head.status_code, head.content, head.headers["Content-Length"]) == (200, b"", str(BLOB_SIZE))
    assert head.headers["Content-Type"] == "application/octet-stream"

    norange = client.get(server.url("norange/blob.bin"), headers={"Range": "bytes=0-9"})
    assert (norange.status_code, norange.content) == (200, blob)


def test_content_types(server: MediaServer, client: httpx.Client) -> None:
    expected = {
        "a.webm": "video/webm",
        "a.m4a": "audio/mp4",
        "a.ts": "video/mp2t",
        "a.rss": "application/rss+xml",
        "a.jpg": "image/jpeg",
        "page.html": "text/html",
    }
    for name, content_type in expected.items():
        assert client.head(server.url(name)).headers["Content-Type"] == content_type


def test_status_redirect_and_missing(server: MediaServer, client: httpx.Client) -> None:
    assert client.get(server.url("status/503")).status_code == 503
    redirect = client.get(server.url(f"redirect?to={server.url('blob.bin')}"))
    assert redirect.status_code == 302
    assert redirect.headers["Location"] == server.url("blob.bin")
    assert client.get(server.url("missing.mp4")).status_code == 404
    assert client.get(server.url("%2e%2e/%2e%2e/etc/passwd")).status_code == 404


def test_base_substitution(server: MediaServer, client: httpx.Client) -> None:
    assert client.get(server.url("page.html")).text == f'<a href="{server.base_url}/blob.bin">blob</a>'


def test_request_log(server: MediaServer, client: httpx.Client) -> None:
    server.clear_requests()
    client.get(server.url("slow/blob.bin"), headers={"Range": "bytes=0-99"})
    [record] = server.wait_for_requests("blob.bin")
    assert (record.method, record.path, record.range) == ("GET", "/slow/blob.bin", "bytes=0-99")
    assert (record.status, record.bytes_sent) == (206, 100)


def _time_to_read(client: httpx.Client, url: str, nbytes: int) -> float:
    start = time.monotonic()
    received = 0
    with client.stream("GET", url) as response:
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received >= nbytes:
                break
    return time.monotonic() - start


def test_slow_prefixes_throttle(server: MediaServer, client: httpx.Client) -> None:
    assert _time_to_read(client, server.url("slow/blob.bin"), 256 * 1024) >= 0.15
    assert _time_to_read(client, server.url("veryslow/blob.bin"), 32 * 1024) >= 0.15


def _read_until_timeout(response: httpx.Response) -> int:
    received = 0
    try:
        for chunk in response.iter_bytes():
            received += len(chunk)
    except httpx.ReadTimeout:
        return received
    raise AssertionError(f"body ended after {received} bytes without stalling")


def test_stall_hangs_and_server_still_stops(root: Path) -> None:
    server = MediaServer(root).start()
    with httpx.Client(timeout=1.0) as client, client.stream("GET", server.url("stall/blob.bin")) as response:
        assert response.headers["Content-Length"] == str(BLOB_SIZE)
        assert _read_until_timeout(response) == STALL_AFTER
        [record] = server.requests_for("stall")
        assert record.bytes_sent == STALL_AFTER
        start = time.monotonic()
        server.stop()  # while the stalled connection is still open
        assert time.monotonic() - start < 1.0


def test_concurrent_downloads_and_quiet_disconnects(
    server: MediaServer, root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    expected = sha256_file(root / "blob.bin")

    def fetch(_: int) -> str:
        with httpx.Client(timeout=10.0) as client:
            return hashlib.sha256(client.get(server.url("blob.bin")).content).hexdigest()

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(fetch, range(16))) == {expected}

    for _ in range(3):  # hang up mid-body
        with httpx.Client(timeout=10.0) as client, client.stream("GET", server.url("slow/blob.bin")) as r:
            next(r.iter_bytes())
    time.sleep(0.2)
    assert capfd.readouterr().err == ""


def test_make_mp4_frames(media: Path) -> None:
    clip = make_mp4(media / "clip.mp4", seconds=2.0, fps=25)
    assert make_mp4(media / "clip.mp4", seconds=2.0) == clip  # cached
    cap = cv2.VideoCapture(str(clip))
    try:
        assert cap.isOpened()
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 50
        assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (320, 240)
    finally:
        cap.release()
    noisy = make_mp4(media / "noisy.mp4", seconds=2.0, noise=True)
    assert noisy.stat().st_size > 2 * clip.stat().st_size


def test_make_av_pair(media: Path) -> None:
    video, audio = make_av_pair(media / "av", seconds=2.0)
    assert probe(video) == MediaInfo(duration=2.0, video_codec="h264", audio_codec=None)
    assert probe(audio).audio_codec == "aac"
    assert probe(audio).video_codec is None
    assert probe(audio).duration == pytest.approx(2.0, abs=0.1)


def test_make_hls_served(media: Path, client: httpx.Client) -> None:
    playlist = make_hls(media / "hls", make_mp4(media / "five.mp4", seconds=5.0))
    text = playlist.read_text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    segments = [line for line in text.splitlines() if line.endswith(".ts")]
    assert len(segments) == 5
    with MediaServer(media) as server:
        r = client.get(server.url("slow/hls/index.m3u8"))
        assert r.headers["Content-Type"] == "application/vnd.apple.mpegurl"
        segment = client.get(server.url(f"slow/hls/{segments[0]}"))
        assert segment.headers["Content-Type"] == "video/mp2t"
        assert segment.content[0] == 0x47  # MPEG-TS sync byte
        assert server.requests_for("/slow/hls/seg")[0].status == 200
    assert probe(playlist).duration == pytest.approx(5.0, abs=0.1)


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_otlp_receiver_decodes_exported_spans(
    compression: Compression, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        provider = TracerProvider(resource=Resource.create({"service.name": "selfcheck"}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(compression=compression)))
        tracer = provider.get_tracer("selfcheck")
        with (
            tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent,
            tracer.start_as_current_span("child", attributes={"job.id": "j1", "n": 3, "ok": True}),
        ):
            pass
        provider.shutdown()

        [child] = receiver.wait_for(lambda s: s.name == "child")
        [parent_span] = receiver.wait_for(lambda s: s.name == "parent")
        assert child.service_name == "selfcheck"
        assert child.attributes == {"job.id": "j1", "n": 3, "ok": True}
        assert child.parent_span_id == parent_span.span_id == f"{parent.get_span_context().span_id:016x}"
        assert child.trace_id == parent_span.trace_id
        assert len(child.trace_id) == 32
        assert parent_span.parent_span_id is None
        assert parent_span.kind == 2  # SPAN_KIND_SERVER
        with pytest.raises(AssertionError, match="received 2 span"):
            receiver.wait_for(lambda s: s.name == "nope", timeout=0.1)
