"""A running playlist as a person watches it: the dashboard's job page and `mediajobs watch`'s line move
before any entry has ended, and say how many entries run. Screenshots go to var/test-output/<test>/."""

from __future__ import annotations

import httpx
import pytest
from rich.console import Console

from mediajobs_cli.follow import ProgressLine
from tests.conftest import ApiKeys, Stack
from tests.jobs import submit, wait_for, wait_terminal
from tests.support.browser import chromium, output_dir, page_context, until_true
from tests.support.httpserver import MediaServer
from tests.test_dashboard_ui import BrowserErrors, Dashboard, log_in, open_view


def _moving(job: dict[str, object]) -> bool:
    progress = job["progress"]
    assert isinstance(progress, dict)
    return (
        not progress.get("items_done")
        and (progress.get("percent") or 0) > 0
        and "2 running" in progress["message"]
    )


@pytest.mark.timeout(180)
async def test_the_dashboard_and_the_cli_show_a_playlist_moving(
    api: httpx.AsyncClient,
    stack: Stack,
    api_keys: ApiKeys,
    media_server: MediaServer,
    request: pytest.FixtureRequest,
) -> None:
    shots = output_dir(request)
    parent = await submit(
        api, {"job_type": "playlist_download", "url": media_server.url("slowfeed.rss"), "concurrency": 2}
    )
    task_id = parent["task_id"]
    errors = BrowserErrors()
    try:
        async with chromium() as browser, page_context(browser) as context:
            page = await log_in(context, Dashboard(stack.api_url, api_keys), api_keys.admin, errors)
            await open_view(page, Dashboard(stack.api_url, api_keys), f"#/job/{task_id}")
            await wait_for(api, task_id, _moving, timeout=60)
            # the page follows the stream: its bar leaves 0 % and its message says what runs, no entry ended
            await until_true(
                page,
                "Number(document.querySelector('#job-progress .progress')?.dataset.percent || 0) > 0"
                " && (document.querySelector('#progress-message')?.textContent || '').includes('2 running')",
            )
            text = await page.inner_text("#job-progress")
            assert "0/4 items" in text, text
            await page.screenshot(path=shots / "playlist-running.png", full_page=True)
        assert not errors.seen, errors.seen

        # `mediajobs watch`: its line on an 80- and a 140-column terminal
        job = await wait_for(api, task_id, _moving, timeout=30)
        lines = []
        for width in (80, 140):
            console = Console(width=width, color_system=None, force_terminal=False)
            with console.capture() as captured:
                console.print(ProgressLine(task_id))  # the empty line: then the job as it stands
                line = ProgressLine(task_id)
                line.update(job)
                console.print(line)
            lines.append(captured.get().splitlines()[-1])
        (shots / "watch.txt").write_text("\n".join(lines) + "\n")
        percent = f"{job['progress']['percent']:5.1f}%"
        assert all(percent in line and "0/4" in line for line in lines), lines
        assert "2 running" in lines[1], lines
    finally:
        await api.post(f"/jobs/{task_id}/cancel")
    assert (await wait_terminal(api, task_id, timeout=20))["status"] == "cancelled"
