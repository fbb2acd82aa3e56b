"""The dashboard's job page with long texts, on a desktop and a phone, light and dark: nothing widens the page
(a long error, result file paths), the attempts say what happened across a retry by hand, a finished job shows
no stale progress words, and an image result's preview is the whole image. Screenshots go to
var/test-output/<test>/."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import ApiKeys, Stack
from tests.jobs import submit, wait_for, wait_terminal
from tests.support.browser import chromium, output_dir, page_context, until_true
from tests.test_dashboard_ui import BrowserErrors, Dashboard, log_in, open_view

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.async_api import Page

LONG_URL = "http://127.0.0.1:8765/" + "a" * 180 + "?page=" + "b" * 60
LONG_ERROR = f"[generic] {LONG_URL}: Unable to download webpage: HTTP Error 404: File not found"
FAILS_ONCE: dict[str, Any] = {"job_type": "echo", "fail_with": "boom", "retry": {"max_attempts": 3}}
WIDTHS = {"desk": 1366, "phone": 390}

PAGE_WIDTH = "[document.documentElement.scrollWidth, window.innerWidth]"
ATTEMPTS = """(() => {
  const dt = [...document.querySelectorAll('#job .facts dt')].find((d) => d.textContent === 'Attempts');
  return dt ? dt.nextElementSibling.textContent : null;
})()"""


def file_payload(task_dir: str) -> dict[str, Any]:
    """An echo payload shaped like an imaging result: files under a task's directory (echo returns it as its
    result, which the page lists as files)."""
    return {
        "outputs": [
            {"path": f"{task_dir}/thumb_320.jpg", "width": 320, "height": 180, "bytes": 12_345},
            {"path": f"{task_dir}/storyboard_sprite_10x1.jpg", "width": 960, "height": 90, "bytes": 45_678},
            {"path": f"{task_dir}/{'long_file_name_' * 8}.json", "bytes": 99},
        ]
    }


async def shown(page: Page, dashboard: Dashboard, task_id: str, status: str) -> None:
    await open_view(page, dashboard, f"#/job/{task_id}")
    await page.wait_for_selector(f"#job-status .chip[data-status={status}]", timeout=20_000)


async def page_width(page: Page) -> tuple[int, int]:
    scroll, inner = await page.evaluate(PAGE_WIDTH)
    return int(scroll), int(inner)


@pytest.mark.timeout(180)
async def test_the_job_page_fits_long_texts_and_says_only_true_things(
    api: httpx.AsyncClient, stack: Stack, api_keys: ApiKeys, request: pytest.FixtureRequest
) -> None:
    shots: Path = output_dir(request)
    dashboard = Dashboard(stack.api_url, api_keys)
    long_error = await submit(
        api,
        {"job_type": "echo", "sleep_s": 0.3, "fail_with": LONG_ERROR, "retry": {"max_attempts": 1}},
    )
    with_files = await submit(api, {"job_type": "echo", "payload": file_payload("f" * 32)})
    retried = await submit(api, FAILS_ONCE)
    for job in (long_error, with_files, retried):
        await wait_terminal(api, job["task_id"])
    ended = await wait_for(api, long_error["task_id"], lambda j: j["status"] == "failed")
    stale = ended["progress"]["message"]
    assert stale, ended["progress"]  # the worker's last word is still on record: the page must not show it
    # a retry by hand starts a new attempt budget: "1 of 3" is then one of three runs
    answer = await api.post(f"/jobs/{retried['task_id']}/retry")
    assert answer.status_code == 202, answer.text
    after = await wait_for(
        api, retried["task_id"], lambda j: j["status"] == "failed" and len(j["attempt_log"]) == 2
    )
    assert (after["attempts"], after["max_attempts"]) == (1, 3), after

    errors = BrowserErrors()
    async with chromium() as browser:
        for scheme in ("light", "dark"):
            for name, width in WIDTHS.items():
                async with page_context(browser, scheme=scheme, width=width, height=900) as context:
                    page = await log_in(context, dashboard, api_keys.admin, errors)
                    where = f"{scheme}, {width} px"

                    await shown(page, dashboard, long_error["task_id"], "failed")
                    await until_true(page, "document.querySelector('#attempts .attempt.failed') !== null")
                    await page.screenshot(path=shots / f"long-error-{scheme}-{name}.png", full_page=True)
                    assert LONG_URL in await page.inner_text("#error")
                    scroll, inner = await page_width(page)
                    assert scroll <= inner, f"long error, {where}: page {scroll} px wide in {inner} px"
                    # a failed job's bar has no running words under it ("slept 0.3/0.3 s", "extracting")
                    assert await page.query_selector("#progress-message") is None, where
                    assert stale not in await page.inner_text("#job-progress"), where

                    await shown(page, dashboard, with_files["task_id"], "succeeded")
                    await page.wait_for_selector("#files .file", timeout=20_000)
                    await page.screenshot(path=shots / f"files-{scheme}-{name}.png", full_page=True)
                    scroll, inner = await page_width(page)
                    assert scroll <= inner, f"file results, {where}: page {scroll} px wide in {inner} px"
                    fits: list[str] = await page.evaluate(
                        "[...document.querySelectorAll('#files .file')].filter((f) => f.scrollWidth >"
                        " f.clientWidth + 1 || f.getBoundingClientRect().right >"
                        " f.closest('.panel').getBoundingClientRect().right).map((f) => f.textContent)"
                    )
                    assert not fits, f"{where}: rows wider than their panel: {fits}"
                    # an image result's preview is the whole image, not a zoomed slice of it
                    fitting = await page.evaluate(
                        "[...document.querySelectorAll('#files img.thumb')].map((i) => getComputedStyle(i)"
                        ".objectFit)"
                    )
                    assert fitting == ["contain", "contain"], f"{where}: {fitting}"

                    await shown(page, dashboard, retried["task_id"], "failed")
                    await until_true(page, "document.querySelectorAll('#attempts .attempt').length === 2")
                    await page.screenshot(path=shots / f"retried-{scheme}-{name}.png", full_page=True)
                    attempts = await page.evaluate(ATTEMPTS)
                    assert attempts == "1 of 3 since the retry by hand (2 runs in all)", where
    assert not errors.seen, errors.seen
