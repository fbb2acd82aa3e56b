"""The local trace UI of `task traces` (Arize Phoenix), fed by the services as real processes: one download
with its `then` thumbnail and metadata is one trace holding every process's spans, asked through Phoenix's own
REST API, and a person's view of it in headless Chromium (the screenshot stays in var/test-output/).

Phoenix is installed on first use into var/phoenix/ (downloads kept in uv's cache, then about 40 s of CPU to
compile its bytecode; later runs reuse it); outside CI a machine that cannot install it skips this with the
reason, in CI (`CI=true`) that is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.cluster import Cluster
from tests.conftest import ApiKeys, bearer, wait_until_ready
from tests.jobs import submit, wait_terminal
from tests.support.browser import chromium, output_dir, page_context
from tests.support.httpserver import MediaServer
from tests.support.stack_jobs import download_with_follow_ups
from tools.localredis import free_port
from tools.traces import (
    PHOENIX_VERSION,
    TraceUi,
    TraceUiError,
    TraceUiProcess,
    ensure_phoenix,
    exporter_env,
    tracing_for_dev,
    write_state,
)

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

INSTALL_TIMEOUT_S = 420.0
START_TIMEOUT_S = 240.0  # ~15 s alone; minutes on a machine busy with other test runs
SERVICES = {"gateway", "downloader", "imaging", "metadata"}
Spans = list[dict[str, Any]]


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceUiProcess]:
    """Phoenix as `task traces` runs it, on free ports with its own (empty) working directory; started, not
    yet healthy (it takes 15-60 s: the test starts the services meanwhile)."""
    try:
        python = ensure_phoenix(timeout=INSTALL_TIMEOUT_S)
    except TraceUiError as exc:
        reason = f"Arize Phoenix {PHOENIX_VERSION} cannot be installed here: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = TraceUiProcess.phoenix(
        python, tmp_path_factory.mktemp("phoenix"), port=free_port(), grpc_port=free_port()
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _trace_spans(ui: TraceUi, trace_id: str, done: Callable[[Spans], bool], timeout: float) -> Spans:
    """The trace's spans as Phoenix's REST API lists them, once `done(spans)` holds or `timeout` passed."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=ui.api_url, timeout=10) as client:
        while True:
            spans: Spans = []
            cursor: str | None = None
            while True:
                params = {"trace_id": trace_id, "limit": "1000", **({"cursor": cursor} if cursor else {})}
                response = await client.get("/projects/default/spans", params=params)
                assert response.status_code == 200, response.text
                page = response.json()
                spans += page["data"]
                if not (cursor := page.get("next_cursor")):
                    break
            if done(spans) or time.monotonic() > deadline:
                return spans
            await asyncio.sleep(0.5)


def _services(spans: Spans) -> set[str]:
    return {str(span["attributes"].get("service.name")) for span in spans}


def _ytdlp(spans: Spans) -> list[dict[str, Any]]:
    return [span for span in spans if span["name"].startswith("ytdlp ")]


def _orphans(spans: Spans) -> list[str]:
    """Spans whose parent is not (yet) in the trace: a trace is one tree when only its root has no parent."""
    ids = {span["context"]["span_id"] for span in spans}
    return [span["name"] for span in spans if span["parent_id"] is not None and span["parent_id"] not in ids]


async def _drag(page: Page, handle: Locator, dx: float) -> None:
    box = await handle.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + dx, y, steps=10)
    await page.mouse.up()


@pytest.mark.timeout(INSTALL_TIMEOUT_S + START_TIMEOUT_S + 180)
async def test_a_download_with_follow_ups_is_one_trace_in_the_local_trace_ui(
    phoenix: TraceUiProcess,
    cluster: Cluster,
    media_server: MediaServer,
    api_keys: ApiKeys,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    env = {**exporter_env(phoenix.ui), "OTEL_BSP_SCHEDULE_DELAY": "200"}
    port = free_port()
    cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(tmp_path)), **env)
    for service in ("downloader", "metadata", "imaging"):
        cluster.start(service, **env)
    api_url = f"http://127.0.0.1:{port}"
    wait_until_ready(api_url, SERVICES - {"gateway"}, api_keys.admin)
    ui = await asyncio.to_thread(phoenix.wait_healthy, START_TIMEOUT_S)

    state = tmp_path / "endpoint.json"
    write_state(ui, state)
    tracing, where = tracing_for_dev({}, state)  # what `task dev` gives its services while the UI runs
    assert tracing == exporter_env(ui)
    assert ui.ui_url in where
    assert tracing["OTEL_EXPORTER_OTLP_ENDPOINT"] == ui.ui_url  # OTLP/HTTP on the UI's own port
    assert "OTEL_BSP_MAX_QUEUE_SIZE" not in tracing_for_dev({"OTEL_BSP_MAX_QUEUE_SIZE": "512"}, state)[0]

    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=bearer(api_keys.admin)) as api:
        parent = await submit(api, download_with_follow_ups(media_server.url("clip.mp4")))
        done = await wait_terminal(api, parent["task_id"], timeout=60)
        assert done["status"] == "succeeded", cluster.logs()
        children = [await wait_terminal(api, child, timeout=60) for child in done["children"]]
    assert [child["status"] for child in children] == ["succeeded", "succeeded"], cluster.logs()
    trace_id = parent["trace_id"]
    assert {child["trace_id"] for child in children} == {trace_id}

    def complete(spans: Spans) -> bool:
        return _services(spans) >= SERVICES and bool(_ytdlp(spans)) and not _orphans(spans)

    spans = await _trace_spans(ui, trace_id, complete, timeout=30)
    (output_dir(request) / "spans.json").write_text(json.dumps(spans, indent=1))
    assert {span["context"]["trace_id"] for span in spans} == {trace_id}
    assert _services(spans) >= SERVICES, sorted({(s["name"], str(s["attributes"])) for s in spans})
    roots = [span for span in spans if span["parent_id"] is None]
    assert [span["name"] for span in roots] == ["POST /jobs/submit"]  # one tree, from the gateway's HTTP span
    assert roots[0]["attributes"]["service.name"] == "gateway"
    assert not _orphans(spans)

    url = ui.link(trace_id)
    screenshot = output_dir(request) / "trace.png"
    # tall enough for the whole tree (one row per span), so that every service's part is in the picture
    async with chromium() as browser, page_context(browser, width=1440, height=1800) as context:
        context.set_default_timeout(90_000)  # Phoenix's UI is a large app: slow on a busy machine
        page = await context.new_page()
        await page.goto(url)
        tree = page.get_by_role("dialog")
        for name in ("POST /jobs/submit", "ytdlp download", "process image_processing", "process metadata"):
            await tree.get_by_text(name, exact=True).first.wait_for(state="visible")
        await _drag(page, tree.locator('[role="separator"][aria-controls="trace-tree"]'), 260)  # wider tree
        await tree.get_by_text("process video_downloads", exact=True).click()  # its attributes on the right
        await tree.get_by_text("mj:queue:video_downloads", exact=True).wait_for(state="visible")
        await page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000

    # the contract of the job's own link to its trace and of the yt-dlp child's spans
    assert done.get("trace_url") == url, done
    assert _ytdlp(spans), sorted(span["name"] for span in spans)
    for span in _ytdlp(spans):
        assert span["attributes"]["service.name"] == "downloader"
        assert span["attributes"]["mediajobs.process"] == "ytdlp-child"
