"""The dashboard at /ui/ as a person uses it: a real Chromium against a real gateway and janitor (which runs
echo jobs), logged in with API keys. Screenshots (light, dark, phone) go to var/test-output/<test>/."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from gateway.dashboard_files import confined_file
from jobcommon import CommonSettings, ErrorInfo, JobClient, keys
from jobcommon.schedule_store import ScheduleStore
from tests.conftest import ApiKeys, bearer, private_cluster, wait_until_ready
from tests.jobs import submit, wait_for, wait_terminal
from tests.support.browser import chromium, output_dir, page_context, until_true
from tests.support.dead_letters import bury
from tests.support.httpserver import MediaServer
from tests.support.otlp import OtlpReceiver
from tools.localredis import free_port

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

DASHBOARD_DB = 8
TIMEOUT_MS = 20_000
FLAPPING = {
    "job_type": "echo",
    "fail_with": "upstream down",
    "fail_kind": "transient",
    "retry": {"max_attempts": 10, "backoff_base_s": 4},
}
"""An echo job that fails and waits between attempts, ten times."""
TRACE_UI = "http://127.0.0.1:16686/trace/{trace_id}"  # only linked to, never opened


@dataclass
class Dashboard:
    url: str
    keys: ApiKeys


def dashboard_redis_url(redis_url: str) -> str:
    """The URL of the Redis database the dashboard's cluster uses."""
    return redis_url.rsplit("/", 1)[0] + f"/{DASHBOARD_DB}"


@dataclass
class BrowserErrors:
    """JavaScript exceptions and Content-Security-Policy refusals seen by a page (none are allowed), and the
    event streams the pages opened."""

    seen: list[str] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("request", lambda r: self.streams.append(r.url) if "/jobs/stream" in r.url else None)
        page.on("pageerror", lambda error: self.seen.append(f"pageerror: {error}"))
        page.on(
            "console",
            lambda message: (
                self.seen.append(f"console: {message.text}")
                if "Content Security Policy" in message.text or "Uncaught" in message.text
                else None
            ),
        )


@pytest.fixture(scope="module")
async def dashboard(
    redis_url: str, otlp: OtlpReceiver, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Dashboard]:
    """A gateway (with the test keys), a janitor (runs echo jobs), a downloader and imaging, on a Redis
    database of their own."""
    folder = tmp_path_factory.mktemp("dashboard")
    async with private_cluster(redis_url, DASHBOARD_DB, folder / "media", otlp) as cluster:
        port = free_port()
        cluster.start(
            "gateway",
            GATEWAY_PORT=str(port),
            API_KEYS_FILE=str(api_keys.file(folder)),
            TRACING_UI_URL=TRACE_UI,
        )
        cluster.start("janitor")
        cluster.start("downloader")
        cluster.start("imaging")
        url = f"http://127.0.0.1:{port}"
        try:
            await asyncio.to_thread(
                wait_until_ready, url, {"janitor", "downloader", "imaging"}, api_keys.admin, 60.0
            )  # four services starting at once on a busy machine
        except RuntimeError:
            raise RuntimeError(cluster.logs()) from None
        yield Dashboard(url, api_keys)


def client(dashboard: Dashboard, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=dashboard.url, timeout=30, headers=bearer(key))


async def log_in(context: BrowserContext, dashboard: Dashboard, key: str, errors: BrowserErrors) -> Page:
    page = await context.new_page()
    errors.watch(page)
    await page.goto(f"{dashboard.url}/ui/")
    await page.fill("#api_key", key)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#who:not([hidden])", timeout=TIMEOUT_MS)
    return page


async def open_view(page: Page, dashboard: Dashboard, fragment: str) -> None:
    await page.goto(f"{dashboard.url}/ui/{fragment}")


async def job_status_shown(page: Page) -> str | None:
    status: str | None = await page.evaluate(
        "document.querySelector('#job-status .chip')?.dataset.status ?? null"
    )
    return status


CLIPPED = """(() => {
  // What a person could not see or reach without scrolling sideways: the page or a table wider than its
  // box, a control or cell past the edge of the viewport or of a box that cuts it off, a button's label cut.
  const found = [];
  const root = document.documentElement;
  const wider = (el) => el.scrollWidth > el.clientWidth;
  if (wider(root)) found.push(`the page: ${root.scrollWidth} > ${root.clientWidth} px`);
  for (const wrap of document.querySelectorAll(".table-wrap")) {
    if (wider(wrap)) found.push(`a table: ${wrap.scrollWidth} > ${wrap.clientWidth} px`);
  }
  const what = (el) => `${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 24)}"`;
  for (const el of document.querySelectorAll("#view button, #view a, #view .chip, #view td, #view input, "
      + "#view select, header a, header button, header input")) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height) continue; // not shown
    let right = root.clientWidth;
    let left = 0;
    for (let up = el.parentElement; up; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") {
        const edge = up.getBoundingClientRect();
        right = Math.min(right, edge.right);
        left = Math.max(left, edge.left);
      }
    }
    const px = (a, b) => `${Math.round(a)}..${Math.round(b)} px`;
    if (box.right > right + 1 || box.left < left - 1) {
      found.push(`${what(el)}: at ${px(box.left, box.right)}, visible ${px(left, right)}`);
    }
    if (el.tagName === "BUTTON" && el.scrollWidth > el.clientWidth + 1) found.push(`${what(el)}: label cut`);
  }
  return found;
})()"""


async def nothing_clipped(page: Page, where: str) -> None:
    """Every control, cell and label of the page is in view (no sideways scrolling, nothing cut off)."""
    clipped: list[str] = await page.evaluate(CLIPPED)
    assert not clipped, f"{where}: {clipped}"


async def watch_progress(page: Page, until: str, timeout: float = 30.0) -> list[float]:
    """The job page's progress bar, sampled every 50 ms until its status chip says `until`."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        percent, status = await page.evaluate(
            "[document.querySelector('#job-progress .progress')?.dataset.percent ?? '',"
            " document.querySelector('#job-status .chip')?.dataset.status ?? null]"
        )
        if percent and (not seen or float(percent) != seen[-1]):
            seen.append(float(percent))
        if status == until:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"the page never showed {until}; progress seen: {seen}")


@pytest.mark.timeout(240)  # includes starting the four services, slow on a busy machine
async def test_a_person_submits_watches_cancels_retries_and_searches(
    dashboard: Dashboard, media_server: MediaServer, request: pytest.FixtureRequest
) -> None:
    """Log in; submit an echo job from the generated form and watch its bar move to "succeeded" without a
    reload, over one event stream that pauses and resumes; cancel a running download (its row shows bytes,
    speed and ETA) from the list; retry a failed job; find a job by search (kept in the URL); jump to a job
    with "/"."""
    shots = output_dir(request)
    keys = dashboard.keys
    errors = BrowserErrors()
    token = secrets.token_hex(4)
    async with client(dashboard, keys.admin) as api:
        flaky = await submit(api, {"job_type": "echo", "fail_with": "a flaky upstream", "fail_attempts": 1})
        needle = await submit(api, {"job_type": "echo", "fail_with": f"needle{token} in the haystack"})
        for job in (flaky, needle):
            await wait_terminal(api, job["task_id"])

        async with chromium() as browser, page_context(browser) as context:
            page = await log_in(context, dashboard, keys.admin, errors)
            cookie = next(c for c in await context.cookies() if c["name"] == "mediajobs_key")
            assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
            assert await page.evaluate("document.cookie") == ""  # invisible to scripts

            # Submit from the form generated from the echo schema; follow it to "succeeded" live.
            await page.evaluate("window.__sameDocument = true")
            await page.click("#nav a[data-page=submit]")
            await page.select_option("#job-type", "echo")
            await page.fill("#field-sleep_s", "3")
            await page.fill("#field-payload", '{"from": "the form"}')
            await page.click("#submit-job")
            await page.wait_for_url(re.compile(r".*#/job/[0-9a-f]{32}$"), timeout=TIMEOUT_MS)
            submitted = page.url.rsplit("/", 1)[1]
            progress = await watch_progress(page, "succeeded")
            assert len([p for p in progress if 0 < p < 100]) >= 2, progress
            assert progress[-1] == 100.0
            # the stream's jobs carry no request or result: the page keeps the one and fetches the other
            await page.wait_for_selector("#result:has-text('the form')", timeout=TIMEOUT_MS)
            assert "the form" in await page.inner_text("#request")
            assert await page.evaluate("window.__sameDocument") is True  # no reload happened
            assert await page.get_attribute("#live-state", "data-state") == "on"
            assert len(errors.streams) == 1, errors.streams  # one stream for the page, across its views

            # Paused, the page holds still while a job ends; resumed, it catches up.
            later = await submit(api, {"job_type": "echo", "sleep_s": 1.5})
            await open_view(page, dashboard, f"#/job/{later['task_id']}")
            await page.wait_for_selector("#job-status .chip", timeout=TIMEOUT_MS)
            await page.click("#live-toggle")
            await page.wait_for_selector("#live-state[data-state=paused]", timeout=TIMEOUT_MS)
            held = await job_status_shown(page)
            assert held in {"queued", "running"}, held
            await wait_for(api, later["task_id"], lambda j: j["status"] == "succeeded")
            await asyncio.sleep(0.5)
            assert await job_status_shown(page) == held
            await page.click("#live-toggle")
            await page.wait_for_selector("#live-state[data-state=on]", timeout=TIMEOUT_MS)
            await page.wait_for_selector("#job-status .chip[data-status=succeeded]", timeout=TIMEOUT_MS)
            shown = await api.get(f"/jobs/{submitted}/status")
            assert shown.json()["request"]["payload"] == {"from": "the form"}
            assert shown.json()["owner"] == "tests"

            # Scheduled from the form: the browser's local date and time an hour ahead, sent as UTC.
            await page.click("#nav a[data-page=submit]")
            await page.select_option("#job-type", "echo")
            await page.click("#submit-form details summary")
            local = await page.evaluate(
                "(() => { const d = new Date(Date.now() + 3600e3); d.setMilliseconds(0);"
                " window.__runAt = d.toISOString();"
                " const p = (n) => String(n).padStart(2, '0');"
                " return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T"
                "${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; })()"
            )
            await page.fill("#field-run_at", local)
            await page.click("#submit-job")
            await page.wait_for_url(re.compile(r".*#/job/[0-9a-f]{32}$"), timeout=TIMEOUT_MS)
            await page.wait_for_selector("#job-status .chip[data-status=scheduled]", timeout=TIMEOUT_MS)
            assert "Runs at" in await page.inner_text("#job")
            await page.screenshot(path=shots / "job-scheduled-light.png", full_page=True)
            scheduled = (await api.get(f"/jobs/{page.url.rsplit('/', 1)[1]}/status")).json()
            assert scheduled["status"] == "scheduled"
            expected = datetime.fromisoformat(await page.evaluate("window.__runAt"))
            assert datetime.fromisoformat(scheduled["request"]["run_at"]) == expected
            # Cancelling it from its page asks first (it cannot be undone); "Keep it" keeps it.
            await page.click("#job [data-action=cancel]")
            await page.wait_for_selector("#confirm[open]", timeout=TIMEOUT_MS)
            assert "Cancel scheduled job" in await page.inner_text("#confirm-title")
            assert "It will not run." in await page.inner_text("#confirm-text")
            assert await page.inner_text("#confirm-dismiss") == "Keep it"
            await page.click("#confirm-dismiss")
            await asyncio.sleep(0.3)
            assert (await api.get(f"/jobs/{scheduled['task_id']}/status")).json()["status"] == "scheduled"
            await page.click("#job [data-action=cancel]")
            await page.wait_for_selector("#confirm[open]", timeout=TIMEOUT_MS)
            await page.click("#confirm-ok")
            await page.wait_for_selector("#job-status .chip[data-status=cancelled]", timeout=TIMEOUT_MS)

            # Cancel the running download from the list; its row shows bytes, speed and ETA meanwhile,
            # and turns "cancelled" by itself.
            download = await submit(
                api, {"job_type": "video_download", "url": media_server.url("veryslow/big.mp4")}
            )  # about 25 s at 160 KB/s
            await open_view(page, dashboard, "#/jobs")
            row = page.locator(f'#jobs-body tr[data-task="{download["task_id"]}"]')
            await row.wait_for(timeout=TIMEOUT_MS)
            text = f"document.querySelector('tr[data-task=\"{download['task_id']}\"] .progress-text')"
            await until_true(page, f"(t => /B \\/ .*B\\/s.*ETA/.test(t))({text}?.textContent ?? '')")
            await page.screenshot(path=shots / "jobs-light.png", full_page=True)
            assert "veryslow/big.mp4" in await row.locator(".subject").inner_text()  # kept through updates
            # Its "Took" is how long it has been running, kept current (it stayed at the first value).
            took = row.locator("td.took")
            took_then = await took.inner_text()
            await asyncio.sleep(3.2)  # it is redrawn every second: at least 2 s more
            took_now = await took.inner_text()
            assert re.fullmatch(r"\d+ s", took_then), took_then
            assert re.fullmatch(r"\d+ s", took_now), took_now
            assert int(took_now.split()[0]) >= int(took_then.split()[0]) + 2, (took_then, took_now)
            # Cancel asks first, saying what happens to a running job; dismissed, it keeps running.
            await row.locator("[data-action=cancel]").click()
            await page.wait_for_selector("#confirm[open]", timeout=TIMEOUT_MS)
            assert "Cancel running job" in await page.inner_text("#confirm-title")
            assert "stops within about a second" in await page.inner_text("#confirm-text")
            await page.screenshot(path=shots / "cancel-confirm-light.png")
            await page.click("#confirm-dismiss")
            await asyncio.sleep(0.5)
            kept = (await api.get(f"/jobs/{download['task_id']}/status")).json()
            assert (kept["status"], kept["cancel_requested"]) == ("running", False)
            await row.locator("[data-action=cancel]").click()
            await page.wait_for_selector("#confirm[open]", timeout=TIMEOUT_MS)
            await page.click("#confirm-ok")
            await wait_for(api, download["task_id"], lambda j: j["status"] == "cancelled", timeout=20)
            await page.wait_for_selector(
                f'#jobs-body tr[data-task="{download["task_id"]}"][data-status=cancelled]',
                timeout=TIMEOUT_MS,
            )

            # Near its end a download's ETA reads "<1 s" (it said "ETA 0 ms"); none once all bytes are in.
            etas = await page.evaluate(
                "import('/ui/static/js/dom.js').then(({ progress }) => [[97.5, 0], [97.5, 0.4], [80, 7.6],"
                " [20, 75], [100, 0]].map(([percent, eta]) => progress({ status: 'running', progress:"
                " { percent, downloaded_bytes: 975, total_bytes: 1000, speed: 2e5, eta } }).textContent))"
            )
            shown_etas = [text[text.index("ETA") :] if "ETA" in text else None for text in etas]
            assert shown_etas == ["ETA <1 s", "ETA <1 s", "ETA 8 s", "ETA 1m 15s", None], etas

            # A job waiting between attempts says so in its row, where a number cannot.
            flapping = await submit(api, FLAPPING)
            waiting = f'#jobs-body tr[data-task="{flapping["task_id"]}"] .progress-message'
            await page.wait_for_selector(f"{waiting}:has-text('next attempt in')", timeout=TIMEOUT_MS)
            await page.screenshot(path=shots / "jobs-retrying-light.png")
            assert re.fullmatch(
                r"next attempt in \d+(\.\d)? s; attempt \d+ of 10 failed \(EchoFlaky\)",
                await page.inner_text(waiting),
            )
            # Waiting, it has no "Took" (it counted from the failed attempt's start, as if still running).
            retrying = page.locator(f'#jobs-body tr[data-task="{flapping["task_id"]}"][data-status=retrying]')
            assert await retrying.locator("td.took").inner_text() == ""
            assert (await api.post(f"/jobs/{flapping['task_id']}/cancel")).status_code == 202

            # Retry the failed job from its page: a second attempt, then success.
            await open_view(page, dashboard, f"#/job/{flaky['task_id']}")
            await page.click("#job [data-action=retry]", timeout=TIMEOUT_MS)
            await page.wait_for_selector("#job-status .chip[data-status=succeeded]", timeout=TIMEOUT_MS)
            await page.wait_for_selector("#attempts .attempt[data-run='2']", timeout=TIMEOUT_MS)
            trace_id = (await api.get(f"/jobs/{flaky['task_id']}/status")).json()["trace_id"]
            trace_link = page.locator("#job a.trace")
            assert await trace_link.inner_text() == trace_id
            assert await trace_link.get_attribute("href") == TRACE_UI.format(trace_id=trace_id)
            await page.screenshot(path=shots / "job-light.png", full_page=True)

            # Search by error text; the search is in the URL, so the same URL shows the same rows.
            await open_view(page, dashboard, "#/jobs")
            await page.fill("#f-q", f"needle{token}")
            await until_true(page, f"location.hash.includes('q=needle{token}')")
            await until_true(page, "document.querySelectorAll('#jobs-body tr[data-task]').length === 1")
            found = await page.eval_on_selector("#jobs-body tr[data-task]", "tr => tr.dataset.task")
            assert found == needle["task_id"]
            ran = await page.inner_text("#jobs-body tr[data-task] td.took")  # a finished job: its run time
            assert re.fullmatch(r"\d+ ms|\d+(\.\d)? s", ran), ran
            await page.reload()
            assert await page.input_value("#f-q") == f"needle{token}"
            await until_true(page, "document.querySelectorAll('#jobs-body tr[data-task]').length === 1")

            # "/" jumps to a job id from anywhere.
            await page.keyboard.press("/")
            await page.keyboard.type(needle["task_id"])
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#job-status .chip[data-status=failed]", timeout=TIMEOUT_MS)
            assert page.url.endswith(f"#/job/{needle['task_id']}")

            # "g" then "j" goes to the jobs; a filter and the page cursor live in the URL too.
            many = [await submit(api, {"job_type": "echo", "payload": {"page": i}}) for i in range(50)]
            await wait_terminal(api, many[-1]["task_id"])
            await page.keyboard.press("g")
            await page.keyboard.press("j")
            await page.wait_for_selector("#jobs-body tr[data-task]", timeout=TIMEOUT_MS)
            await page.select_option("#f-type", "echo")
            await until_true(page, "location.hash.includes('job_type=echo')")
            await until_true(page, "document.querySelectorAll('#jobs-body tr[data-task]').length === 50")
            first = await page.eval_on_selector("#jobs-body tr[data-task]", "tr => tr.dataset.task")
            await page.click("#page-next")
            await until_true(
                page, "location.hash.includes('cursor=') && location.hash.includes('job_type=echo')"
            )
            await until_true(
                page,
                f"(t => t && t !== '{first}')(document.querySelector('#jobs-body tr')?.dataset.task)",
            )
            older = await page.eval_on_selector_all(
                "#jobs-body tr[data-task]", "rows => rows.map(r => r.dataset.task)"
            )
            assert first not in older
            assert older  # the echo jobs of the first test steps are on the second page
            await page.click("#page-first")
            await until_true(
                page, f"document.querySelector('#jobs-body tr[data-task]')?.dataset.task === '{first}'"
            )

    assert not errors.seen, errors.seen


async def test_playlists_thumbnails_dead_letters_and_every_page_in_light_dark_and_phone(
    dashboard: Dashboard, media_server: MediaServer, redis_url: str, request: pytest.FixtureRequest
) -> None:
    """A playlist's entries, each with its status; a follow-up thumbnail previewed; dead letters grouped by
    error type, all of one type retried after a preview count and a confirmation, a selection purged; the
    queues, workers and submit pages; screenshots in light, dark and at phone width."""
    shots = output_dir(request)
    keys = dashboard.keys
    errors = BrowserErrors()
    async with client(dashboard, keys.admin) as api:
        parent = await submit(
            api, {"job_type": "playlist_download", "url": media_server.url("feed.rss"), "concurrency": 1}
        )
        dead_body = {
            "job_type": "echo",
            "fail_with": "upstream said 503",
            "fail_kind": "transient",
            "fail_attempts": 1,
            "retry": {"max_attempts": 1},
        }
        dead = [await submit(api, {**dead_body, "payload": {"n": i}}) for i in range(3)]
        clip = await submit(
            api,
            {
                "job_type": "video_download",
                "url": media_server.url("clip.mp4"),
                "then": [{"job_type": "thumbnail", "sizes": [160]}],
            },
        )
        other_dead = await submit(
            api,
            {"job_type": "echo", "fail_with": "boom", "fail_kind": "unknown", "retry": {"max_attempts": 1}},
        )
        for job in [*dead, other_dead]:
            await wait_terminal(api, job["task_id"])

        async with chromium() as browser:
            async with page_context(browser) as context:
                page = await log_in(context, dashboard, keys.admin, errors)
                # A playlist's entries, each with its own status; an entry shows its file and links back.
                for child in (await wait_terminal(api, parent["task_id"]))["children"]:
                    await wait_terminal(api, child)
                await open_view(page, dashboard, f"#/job/{parent['task_id']}")
                children = page.locator("#children li[data-task]")
                await children.first.wait_for(timeout=TIMEOUT_MS)
                assert await children.count() == 3
                await until_true(page, "document.querySelectorAll('#children li .chip').length === 3")
                statuses = await page.eval_on_selector_all(
                    "#children li .chip", "chips => chips.map(c => c.dataset.status)"
                )
                assert statuses == ["succeeded", "succeeded", "failed"]
                await page.screenshot(path=shots / "playlist-light.png", full_page=True)
                await children.first.locator("a").click()
                await page.wait_for_selector(
                    f'#children a[href="#/job/{parent["task_id"]}"]', timeout=TIMEOUT_MS
                )
                assert ".mp4" in await page.inner_text("#files")

                # A download's follow-up thumbnail, previewed on the follow-up's page.
                (thumb_id,) = (await wait_terminal(api, clip["task_id"]))["children"]
                await wait_terminal(api, thumb_id)
                await open_view(page, dashboard, f"#/job/{clip['task_id']}")
                await page.wait_for_selector(
                    f'#children li[data-task="{thumb_id}"] .chip', timeout=TIMEOUT_MS
                )
                await open_view(page, dashboard, f"#/job/{thumb_id}")
                await until_true(page, "document.querySelector('#files img.thumb')?.naturalWidth === 160")
                await page.screenshot(path=shots / "thumbnail-light.png", full_page=True)

                # Dead letters grouped by error type; retry every one of a type after a preview count.
                await open_view(page, dashboard, "#/dead")
                group = page.locator("#dead-groups .group[data-error-type=EchoFlaky]")
                await group.wait_for(timeout=TIMEOUT_MS)
                assert await group.locator(".count").inner_text() == "3"
                await page.wait_for_selector("#dead-groups .group:nth-child(3)", timeout=TIMEOUT_MS)
                await page.screenshot(path=shots / "dead-light.png", full_page=True)
                await nothing_clipped(page, "dead letters")
                await group.click()
                await until_true(page, "document.querySelectorAll('#dead-body tr[data-task]').length === 3")
                await page.click("#retry-matching")
                await page.wait_for_selector("#confirm[open]", timeout=TIMEOUT_MS)
                assert "3 dead letters" in await page.inner_text("#confirm-title")
                await page.click("#confirm-ok")
                for job in dead:  # each runs again (a fresh attempt budget) and succeeds this time
                    await wait_for(api, job["task_id"], lambda j: j["status"] == "succeeded", timeout=20)
                still_dead = (await wait_terminal(api, other_dead["task_id"]))["dead"]
                assert still_dead  # another error type: not part of the bulk retry

                # Purge a selection (here: the one left), after a confirmation; its record is gone.
                await open_view(page, dashboard, "#/dead")
                other_row = page.locator(f'#dead-body tr[data-task="{other_dead["task_id"]}"]')
                await other_row.wait_for(timeout=TIMEOUT_MS)
                assert await page.locator("#dead-body tr[data-task]").count() == 1
                await other_row.locator("input[type=checkbox]").check()
                await page.click("#purge-selected")
                await page.wait_for_selector("#confirm[open]", timeout=TIMEOUT_MS)
                assert "1 dead letter" in await page.inner_text("#confirm-title")
                await page.click("#confirm-ok")
                await page.wait_for_selector("#dead-body td.empty", timeout=TIMEOUT_MS)
                assert (await api.get(f"/jobs/{other_dead['task_id']}/status")).status_code == 404

                await open_view(page, dashboard, "#/queues")
                await page.wait_for_selector("#queues .queue[data-queue=default]", timeout=TIMEOUT_MS)
                await page.screenshot(path=shots / "queues-light.png", full_page=True)
                await nothing_clipped(page, "queues")
                await open_view(page, dashboard, "#/workers")
                for service in ("janitor", "downloader"):
                    await page.wait_for_selector(
                        f"#workers-body tr[data-service={service}]", timeout=TIMEOUT_MS
                    )
                await page.screenshot(path=shots / "workers-light.png", full_page=True)
                await nothing_clipped(page, "workers")
                await open_view(page, dashboard, "#/submit")
                await page.wait_for_selector("#submit-form", timeout=TIMEOUT_MS)
                await page.screenshot(path=shots / "submit-light.png", full_page=True)
                await nothing_clipped(page, "submit")

                # Every kind of row at once, with a download in flight (light, then dark).
                slow = await submit(
                    api, {"job_type": "video_download", "url": media_server.url("veryslow/big.mp4")}
                )
                text = f"document.querySelector('tr[data-task=\"{slow['task_id']}\"] .progress-text')"
                in_flight = f"(t => /B \\/ .*B\\/s.*ETA/.test(t))({text}?.textContent ?? '')"
                await open_view(page, dashboard, "#/jobs")
                await until_true(page, in_flight)
                await page.evaluate("document.getElementById('toasts').replaceChildren()")  # earlier notes
                await page.mouse.move(0, 0)
                await page.screenshot(path=shots / "jobs-light.png")  # the first screenful
                await nothing_clipped(page, "jobs")

            async with page_context(browser, scheme="dark") as context:
                page = await log_in(context, dashboard, keys.admin, errors)
                await until_true(page, in_flight)
                await page.screenshot(path=shots / "jobs-dark.png")
                assert (await api.post(f"/jobs/{slow['task_id']}/cancel")).status_code == 202
                await open_view(page, dashboard, f"#/job/{parent['task_id']}")
                await page.wait_for_selector("#children li[data-task] .chip", timeout=TIMEOUT_MS)
                await page.screenshot(path=shots / "job-dark.png", full_page=True)
                background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
                assert background == "rgb(15, 18, 23)"  # the dark palette, from prefers-color-scheme

            # At phone width (390 px) every page shows every row's buttons and cells whole, without
            # scrolling sideways: a download in flight (bytes, speed, ETA), a job between attempts, a dead
            # letter with a long error type and a long URL, a worker running jobs, a schedule.
            flapping = await submit(api, FLAPPING)
            long_url = (
                "https://media.example.org/channels/some-channel/videos/2026/12/a-rather-long-title.mp4"
            )
            buried = uuid.uuid4().hex
            settings = CommonSettings(redis_url=dashboard_redis_url(redis_url))
            async with JobClient(settings) as jobs:
                await bury(
                    jobs,
                    buried,
                    owner="tests",
                    request={"job_type": "echo", "url": long_url},
                    error=ErrorInfo(type="BlockedAddressError", message=f"{long_url} resolves to 10.0.0.1"),
                )
            made = await api.post(
                "/jobs/schedules",
                json={
                    "name": "phone-width-covers",
                    "cron": "30 3 * * *",
                    "timezone": "America/Argentina/Buenos_Aires",
                    "request": {"job_type": "echo"},
                },
            )
            assert made.status_code == 201, made.text
            slow = await submit(
                api, {"job_type": "video_download", "url": media_server.url("veryslow/big.mp4")}
            )
            text = f"document.querySelector('tr[data-task=\"{slow['task_id']}\"] .progress-text')"
            in_flight = f"(t => /B \\/ .*B\\/s.*ETA/.test(t))({text}?.textContent ?? '')"
            async with page_context(browser, width=390, height=844) as context:
                page = await log_in(context, dashboard, keys.admin, errors)
                await page.wait_for_selector("#jobs-body tr[data-task]", timeout=TIMEOUT_MS)
                await until_true(page, in_flight)
                await page.wait_for_selector(
                    f'#jobs-body tr[data-task="{flapping["task_id"]}"] .progress-message', timeout=TIMEOUT_MS
                )
                await page.wait_for_selector(f'#jobs-body tr[data-task="{buried}"]', timeout=TIMEOUT_MS)
                await page.screenshot(path=shots / "jobs-phone.png", full_page=True)
                await nothing_clipped(page, "jobs at phone width")
                for fragment, ready in (
                    ("#/dead", f'#dead-body tr[data-task="{buried}"]'),
                    ("#/workers", "#workers-body a.id"),
                    ("#/schedules", '#schedules-body tr[data-schedule="phone-width-covers"]'),
                    ("#/queues", "#queues .queue[data-queue=default]"),
                    ("#/submit", "#submit-form"),
                    (f"#/job/{slow['task_id']}", "#job [data-action=cancel]"),
                    (f"#/job/{parent['task_id']}", "#children li[data-task]"),
                ):
                    await open_view(page, dashboard, fragment)
                    await page.wait_for_selector(ready, timeout=TIMEOUT_MS)
                    names = {slow["task_id"]: "running", parent["task_id"]: "playlist", "/": "-"}
                    name = fragment.strip("#/")
                    for part, said in names.items():
                        name = name.replace(part, said)
                    await page.screenshot(path=shots / f"{name}-phone.png", full_page=True)
                    await nothing_clipped(page, f"{fragment} at phone width")
            for task in (slow, flapping):
                assert (await api.post(f"/jobs/{task['task_id']}/cancel")).status_code == 202
            assert (await api.delete("/jobs/schedules/phone-width-covers")).status_code in (200, 204)
            assert (await api.post("/jobs/dead/purge", json={"task_ids": [buried]})).json()["purged"] == 1
    assert not errors.seen, errors.seen


async def test_an_admin_sees_schedules_and_pauses_resumes_and_deletes_one(
    dashboard: Dashboard, redis_url: str, request: pytest.FixtureRequest
) -> None:
    """The schedules page lists each schedule with its timing, job and next run; pause, resume and delete
    (after a confirmation) act on it."""
    errors = BrowserErrors()
    async with client(dashboard, dashboard.keys.admin) as api:
        made = await api.post(
            "/jobs/schedules",
            json={
                "name": "nightly-covers",
                "cron": "30 3 * * *",
                "timezone": "Europe/Berlin",
                "request": {"job_type": "echo", "payload": {"covers": True}},
            },
        )
        assert made.status_code == 201, made.text
        async with chromium() as browser, page_context(browser) as context:
            page = await log_in(context, dashboard, dashboard.keys.admin, errors)
            await open_view(page, dashboard, "#/schedules")
            row = page.locator('#schedules-body tr[data-schedule="nightly-covers"]')
            await row.wait_for(timeout=TIMEOUT_MS)
            text = await row.inner_text()
            assert "30 3 * * *" in text
            assert "Europe/Berlin" in text
            assert '{"covers":true}' in text
            assert "never" in text
            assert not await row.locator("[data-problem]").count()
            await page.screenshot(path=output_dir(request) / "schedules-light.png", full_page=True)
            # a tick the owner's quota turned away: the row says why its last tick made no job
            settings = CommonSettings(redis_url=dashboard_redis_url(redis_url))
            async with JobClient(settings) as jobs:
                store = ScheduleStore(jobs.redis)
                taken = await jobs.redis.zscore(keys.SCHEDULE_NEXT, "nightly-covers")
                assert taken is not None
                why = "refused: 10000 of this owner's jobs are unfinished"
                following = datetime.fromtimestamp(taken + 86400, UTC)
                moved = await store.advance(
                    "nightly-covers",
                    taken=taken,
                    following=following,
                    task_id=None,
                    missed=0,
                    refused=True,
                    problem=why,
                )
                assert moved
            await page.reload()
            await row.locator("[data-problem]").wait_for(timeout=TIMEOUT_MS)
            assert why in await row.inner_text()
            assert "(1 refused)" in await row.inner_text()
            assert "1 making no jobs" in await page.inner_text("#view")
            await page.screenshot(path=output_dir(request) / "schedules-problem.png", full_page=True)
            await row.locator("[data-action=pause]").click()
            await row.locator(".chip.cancelled").wait_for(timeout=TIMEOUT_MS)
            assert (await api.get("/jobs/schedules/nightly-covers")).json()["paused"] is True
            await row.locator("[data-action=resume]").click()
            await row.locator("[data-action=pause]").wait_for(timeout=TIMEOUT_MS)
            await row.locator("[data-action=delete]").click()
            await page.wait_for_selector("#confirm[open]", timeout=TIMEOUT_MS)
            await page.click("#confirm-ok")
            await page.wait_for_selector("#schedules-body td.empty", timeout=TIMEOUT_MS)
        assert (await api.get("/jobs/schedules/nightly-covers")).status_code == 404
    assert not errors.seen, errors.seen


async def test_a_read_key_sees_no_action_buttons(
    dashboard: Dashboard, request: pytest.FixtureRequest
) -> None:
    """Alice's read-only key shows her jobs, running and failed, without cancel, retry, submit or bulk
    controls (the server refuses them anyway)."""
    keys = dashboard.keys
    errors = BrowserErrors()
    async with client(dashboard, keys.alice_submit) as alice:
        running = await submit(alice, {"job_type": "echo", "sleep_s": 30})
        failed = await submit(
            alice,
            {"job_type": "echo", "fail_with": "nope", "fail_kind": "transient", "retry": {"max_attempts": 1}},
        )
        await wait_terminal(alice, failed["task_id"])
        async with chromium() as browser, page_context(browser) as context:
            wrong = await context.new_page()
            await wrong.goto(f"{dashboard.url}/ui/")
            await wrong.fill("#api_key", "mj_not_a_key_at_all_0000000000")
            await wrong.click("#login-form button[type=submit]")
            await wrong.wait_for_selector("#login-error", timeout=TIMEOUT_MS)  # said so, and still the form
            await wrong.close()
            page = await log_in(context, dashboard, keys.alice_read, errors)
            for task in (running, failed):
                await page.wait_for_selector(
                    f'#jobs-body tr[data-task="{task["task_id"]}"]', timeout=TIMEOUT_MS
                )
            assert await page.locator("[data-action]").count() == 0
            for not_for_readers in ("submit", "queues", "workers", "schedules"):
                assert await page.locator(f"#nav a[data-page={not_for_readers}]").is_hidden(), not_for_readers
            assert await page.locator("a[href='#/submit']:visible").count() == 0
            # A running job's page: its "Took" counts up (it was drawn once and stayed).
            await wait_for(alice, running["task_id"], lambda j: j["status"] == "running")
            await open_view(page, dashboard, f"#/job/{running['task_id']}")
            await page.wait_for_selector("#job-status .chip[data-status=running]", timeout=TIMEOUT_MS)
            took_then = await page.inner_text("#job-took")
            await asyncio.sleep(3.2)  # it is redrawn every second: at least 2 s more
            took_now = await page.inner_text("#job-took")
            assert int(took_now.split()[0]) >= int(took_then.split()[0]) + 2, (took_then, took_now)
            assert re.search(r"running for \d+ s", await page.inner_text("#attempts"))
            await open_view(page, dashboard, f"#/job/{failed['task_id']}")
            await page.wait_for_selector("#job-status .chip[data-status=failed]", timeout=TIMEOUT_MS)
            assert await page.locator("[data-action]").count() == 0
            await open_view(page, dashboard, "#/dead")
            await page.wait_for_selector(
                f'#dead-body tr[data-task="{failed["task_id"]}"]', timeout=TIMEOUT_MS
            )
            assert (
                await page.locator("#dead-body input[type=checkbox], #retry-matching, [data-action]").count()
                == 0
            )
            await page.screenshot(path=output_dir(request) / "dead-read-only.png", full_page=True)
        await alice.post(f"/jobs/{running['task_id']}/cancel")
    assert not errors.seen, errors.seen


async def test_the_login_cookie_is_httponly_and_cookie_posts_need_the_csrf_header(
    dashboard: Dashboard,
) -> None:
    """POST /ui/login sets an HttpOnly SameSite=Strict cookie (a wrong key sets none); the cookie then
    authenticates GETs, but an unsafe request with it and without `X-Mediajobs-CSRF: 1` is a 403 problem;
    logout clears it; /ui pages carry a strict CSP."""
    keys = dashboard.keys
    async with httpx.AsyncClient(base_url=dashboard.url, timeout=30) as anon:
        wrong = await anon.post("/ui/login", data={"api_key": "mj_not_a_key_at_all_0000000000"})
        assert (wrong.status_code, wrong.headers["location"]) == (303, "/ui/?login=failed")
        assert "set-cookie" not in wrong.headers

        elsewhere = await anon.post(
            "/ui/login", data={"api_key": keys.alice_submit}, headers={"Origin": "https://evil.example"}
        )
        assert elsewhere.status_code == 403  # another site cannot log a browser in
        assert "set-cookie" not in elsewhere.headers

        page = await anon.get("/ui/")
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert {"script-src 'self'", "frame-ancestors 'none'"} <= set(csp.split("; "))
        assert "unsafe-inline" not in csp

        login = await anon.post("/ui/login", data={"api_key": keys.alice_submit})
        assert (login.status_code, login.headers["location"]) == (303, "/ui/")
        set_cookie = login.headers["set-cookie"]
        assert set_cookie.startswith("mediajobs_key=")
        assert {"HttpOnly", "SameSite=strict", "Path=/"} <= set(set_cookie.split("; "))
        assert "Secure" not in set_cookie  # plain http here; https gets Secure

        cookies = {"mediajobs_key": keys.alice_submit}
        async with httpx.AsyncClient(base_url=dashboard.url, timeout=30, cookies=cookies) as browser:
            me = (await browser.get("/ui/whoami")).json()
            assert (me["name"], me["owner"], me["role"]) == ("alice", "alice", "submit")
            assert (await browser.get("/jobs/list")).status_code == 200
            forged = await browser.post("/jobs/submit", json={"job_type": "echo"})
            assert forged.status_code == 403
            assert forged.headers["content-type"] == "application/problem+json"
            assert "X-Mediajobs-CSRF" in forged.json()["detail"]
            job = await browser.post(
                "/jobs/submit", json={"job_type": "echo"}, headers={"X-Mediajobs-CSRF": "1"}
            )
            assert job.status_code == 202, job.text
            assert job.json()["owner"] == "alice"
            forged_cancel = await browser.post(f"/jobs/{job.json()['task_id']}/cancel")
            assert forged_cancel.status_code == 403

            # Thumbnails: only files the job's result names (an echo result names none).
            done = await wait_terminal(browser, job.json()["task_id"])
            for path in ("../../etc/passwd.png", "a.png"):
                answer = await browser.get(f"/ui/jobs/{done['task_id']}/file", params={"path": path})
                assert answer.status_code == 404, (path, answer.text)

            logout = await browser.post("/ui/logout", headers={"X-Mediajobs-CSRF": "1"})
            assert logout.status_code == 204
            assert (
                'mediajobs_key=""' in logout.headers["set-cookie"]
                or "Max-Age=0" in logout.headers["set-cookie"]
            )

    async with client(dashboard, keys.alice_submit) as bearer_client:
        plain = await bearer_client.post("/jobs/submit", json={"job_type": "echo"})
        assert plain.status_code == 202  # header-authenticated requests need no CSRF header


def test_thumbnail_paths_stay_inside_the_jobs_own_output_dir(tmp_path: Path) -> None:
    """A result's path is served only if it resolves to a file inside the job's own output dir: not `..`, not
    an absolute path elsewhere, not a symlink pointing out, not another job's file (a result may hold text a
    remote site chose, e.g. a video title naming it)."""
    root = tmp_path / "media"
    for job in ("job", "other"):
        (root / job).mkdir(parents=True)
        (root / job / "thumb.png").write_bytes(b"\x89PNG")
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG")
    (root / "job" / "link.png").symlink_to(outside)
    (root / "job" / "theirs.png").symlink_to(root / "other" / "thumb.png")
    assert confined_file(root, "job", "job/thumb.png") == (root / "job" / "thumb.png").resolve()
    assert confined_file(root, "job", str(root / "job" / "thumb.png")) is not None
    refused = ("../secret.png", str(outside), "job/link.png", "job/missing.png", "job", ".")
    for path in (*refused, "other/thumb.png", "job/../other/thumb.png", "job/theirs.png"):
        assert confined_file(root, "job", path) is None, path
