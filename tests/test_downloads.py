"""Downloads end to end: HTTP submit -> downloader process -> MEDIA_ROOT; progress, cancel, traces."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import Stack
from tests.jobs import sse_events, status, submit, wait_for, wait_terminal
from tests.processes import download_children
from tests.support.httpserver import MediaServer
from tests.support.media import sha256_file
from tests.support.otlp import OtlpReceiver

SERVER_SPAN = 2


def _no_output_left(stack: Stack, task_id: str) -> None:
    assert not (stack.media_root / task_id).exists(), list((stack.media_root / task_id).rglob("*"))
    assert not (stack.media_root / ".tmp" / task_id).exists()


async def test_download_streams_progress_and_stores_identical_bytes(
    api: httpx.AsyncClient, stack: Stack, media_server: MediaServer
) -> None:
    url = media_server.url("slow/big.mp4")
    job = await submit(api, {"job_type": "video_download", "url": url})
    events = await sse_events(api, job["task_id"], timeout=90)
    progress = [j["progress"] for kind, j in events if kind == "progress"]
    assert len(progress) >= 3, events
    assert any(p["downloaded_bytes"] and p["total_bytes"] and p["speed"] for p in progress)
    assert events[-1][1]["status"] == "succeeded", events[-1]

    result = (await api.get(f"/jobs/{job['task_id']}/result")).json()["result"]
    served = media_server.root / "big.mp4"
    stored = stack.media_root / result["path"]
    assert result["path"] == f"{job['task_id']}/media.mp4"
    assert stored.read_bytes() == served.read_bytes()
    assert result["sha256"] == sha256_file(served)
    assert result["size"] == served.stat().st_size
    assert (result["width"], result["height"]) == (640, 480)
    assert abs(result["duration"] - 8.0) < 0.1
    assert result["ext"] == "mp4"
    assert result["source_url"] == url
    assert not (stack.media_root / ".tmp" / job["task_id"]).exists()


async def test_download_from_html_page(
    api: httpx.AsyncClient, stack: Stack, media_server: MediaServer
) -> None:
    job = await submit(api, {"job_type": "video_download", "url": media_server.url("page.html")})
    final = await wait_terminal(api, job["task_id"])
    assert final["status"] == "succeeded", final
    assert final["result"]["sha256"] == sha256_file(media_server.root / "clip.mp4")
    assert final["result"]["title"]


async def test_cancel_mid_download_stops_within_a_second(
    api: httpx.AsyncClient, stack: Stack, media_server: MediaServer
) -> None:
    job = await submit(api, {"job_type": "video_download", "url": media_server.url("veryslow/big.mp4")})
    await wait_for(api, job["task_id"], lambda j: (j["progress"]["downloaded_bytes"] or 0) > 0)
    assert (stack.media_root / ".tmp" / job["task_id"]).exists()
    started = asyncio.get_running_loop().time()
    assert (await api.post(f"/jobs/{job['task_id']}/cancel")).status_code == 202
    final = await wait_terminal(api, job["task_id"], timeout=5)
    elapsed = asyncio.get_running_loop().time() - started
    assert final["status"] == "cancelled"
    assert elapsed < 1.0, elapsed
    progress = final["progress"]  # how far it got; not "downloading" at a speed it no longer has
    assert (progress["message"], progress["speed"], progress["eta"]) == ("cancelled", None, None)
    assert progress["downloaded_bytes"] > 0
    _no_output_left(stack, job["task_id"])
    assert download_children(stack.procs["downloader"].pid) == []


async def test_cancel_while_server_stalls(
    api: httpx.AsyncClient, stack: Stack, media_server: MediaServer
) -> None:
    job = await submit(api, {"job_type": "video_download", "url": media_server.url("stall/big.mp4")})
    await wait_for(api, job["task_id"], lambda j: (j["progress"]["downloaded_bytes"] or 0) > 0)
    await asyncio.sleep(0.5)  # the server is now silent: no progress hook can run
    started = asyncio.get_running_loop().time()
    assert (await api.post(f"/jobs/{job['task_id']}/cancel")).status_code == 202
    final = await wait_terminal(api, job["task_id"], timeout=5)
    assert final["status"] == "cancelled"
    assert asyncio.get_running_loop().time() - started < 1.0
    _no_output_left(stack, job["task_id"])
    assert download_children(stack.procs["downloader"].pid) == []


async def test_missing_video_fails_with_clear_error(
    api: httpx.AsyncClient, stack: Stack, media_server: MediaServer
) -> None:
    job = await submit(api, {"job_type": "video_download", "url": media_server.url("missing.mp4")})
    final = await wait_terminal(api, job["task_id"])
    assert final["status"] == "failed"
    assert final["error"]["type"] == "HTTPError"
    assert "404" in final["error"]["message"]
    assert "\n" not in final["error"]["message"]
    assert "Traceback" not in final["error"]["message"]
    _no_output_left(stack, job["task_id"])


@pytest.mark.parametrize(
    ("name", "error_type", "words"),
    [
        ("not-a-video", "NotMediaError", "not a media file: its content is text starting '<html><body>'"),
        ("cut-short", "BrokenMediaError", "not a playable media file: the mp4 is cut short"),
    ],
    ids=["html", "cut"],
)
async def test_download_that_is_no_playable_media_fails_permanently(
    api: httpx.AsyncClient, stack: Stack, media_server: MediaServer, name: str, error_type: str, words: str
) -> None:
    """An HTML page served as video/mp4, or an mp4 cut before its moov, fails at the first attempt with what
    its bytes are (no host path); no output is left for a follow-up job to trip over."""
    served = media_server.root / f"{name}.mp4"
    clip = (media_server.root / "clip.mp4").read_bytes()
    served.write_bytes(b"<html><body>Not found</body>" if name == "not-a-video" else clip[:30_000])
    job = await submit(api, {"job_type": "video_download", "url": media_server.url(served.name)})
    final = await wait_terminal(api, job["task_id"])
    assert final["status"] == "failed", final
    assert final["attempts"] == 1, "a permanent failure is never retried"
    assert final["error"]["type"] == error_type, final["error"]
    assert words in final["error"]["message"], final["error"]
    assert str(stack.media_root) not in final["error"]["message"]
    _no_output_left(stack, job["task_id"])


async def test_trace_runs_from_http_request_into_downloader(
    api: httpx.AsyncClient, media_server: MediaServer, otlp: OtlpReceiver
) -> None:
    job = await submit(api, {"job_type": "video_download", "url": media_server.url("clip.mp4")})
    trace_id = job["trace_id"]
    assert len(trace_id or "") == 32
    assert (await wait_terminal(api, job["task_id"]))["status"] == "succeeded"
    http = otlp.wait_for(
        lambda s: s.trace_id == trace_id and s.service_name == "gateway" and s.kind == SERVER_SPAN
    )
    assert any("/jobs/submit" in s.name for s in http)
    worker = otlp.wait_for(lambda s: s.trace_id == trace_id and s.service_name == "downloader")
    assert any("process" in s.name for s in worker), [s.name for s in worker]
    assert (await status(api, job["task_id"]))["trace_id"] == trace_id
