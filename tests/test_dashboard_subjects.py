"""What each job is about, in the dashboard's Jobs list (its most telling input, per job type; the same for a
row the live stream adds as after a reload, never a URL's credentials), and the submit form's list and choice
fields (a list of strings one entry a line, numbers comma separated, a union of enums a select). A gateway
alone on a Redis database of its own: the jobs stay queued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import ApiKeys, bearer
from tests.support.browser import chromium, output_dir, page_context, until_true
from tests.support.lone_gateway import LoneGateway, lone_gateway
from tests.support.otlp import OtlpReceiver

if TYPE_CHECKING:
    from playwright.async_api import Page

SUBJECTS_DB = 6
TIMEOUT_MS = 20_000
SECRET_URL = "https://someone:hunter2secret@media.example/clip.mp4?token=hunter2token"

JOBS: list[tuple[dict[str, Any], str]] = [
    ({"job_type": "video_download", "url": SECRET_URL, "title": "Holiday clip"}, "Holiday clip"),
    ({"job_type": "video_info", "url": SECRET_URL}, "https://***@media.example/clip.mp4?token=***"),
    (
        {"job_type": "thumbnail", "sources": ["lib/a.mp4", "lib/b.mp4", "lib/c.mp4"]},
        "lib/a.mp4 and 2 more",
    ),
    (
        {"job_type": "image_resize", "sources": ["lib/photo.jpg"], "specs": [{"width": 64, "height": 64}]},
        "lib/photo.jpg",
    ),
    ({"job_type": "image_optimize", "sources": ["lib/x.png", "lib/y.png"]}, "lib/x.png and 1 more"),
    ({"job_type": "storyboard", "sources": ["lib/film.mp4"]}, "lib/film.mp4"),
    ({"job_type": "metadata_enrich", "items": ["lib/song.mp3", "lib/other.mp3"]}, "lib/song.mp3 and 1 more"),
    ({"job_type": "music_lookup", "artist": "Nina Simone", "title": "Sinnerman"}, "Nina Simone – Sinnerman"),
    ({"job_type": "echo", "payload": {"n": 7}}, '{"n":7}'),
]
"""A request of every kind, and the subject its row shows."""


Gateway = LoneGateway


@pytest.fixture(scope="module")
async def gateway(
    redis_url: str, otlp: OtlpReceiver, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    """A gateway alone (nothing runs the jobs) on its own database."""
    folder = tmp_path_factory.mktemp("subjects")
    async with lone_gateway(redis_url, SUBJECTS_DB, otlp, api_keys, folder) as gateway:
        yield gateway


def as_key(gateway: Gateway, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=bearer(key))


async def logged_in(page: Page, gateway: Gateway, key: str, errors: list[str]) -> None:
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    await page.goto(f"{gateway.url}/ui/")
    await page.fill("#api_key", key)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#who:not([hidden])", timeout=TIMEOUT_MS)


async def subjects(page: Page) -> dict[str, str]:
    """Each row's task id and the subject it shows."""
    shown: dict[str, str] = await page.evaluate(
        """Object.fromEntries([...document.querySelectorAll('#jobs-body tr[data-task]')].map((tr) =>
        [tr.dataset.task, tr.querySelector('.subject')?.textContent ?? '']))"""
    )
    return shown


@pytest.mark.timeout(180)
async def test_rows_show_each_jobs_subject_live_and_after_a_reload(
    gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    """Jobs of every type submitted through the API while the Jobs list is open: each row the stream adds
    shows the job's most telling input (a download's given title, not its URL; the first of its sources and
    how many more; artist – title), the same after a reload, and no URL's password or token."""
    shots = output_dir(request)
    errors: list[str] = []
    async with chromium() as browser, page_context(browser, width=1366) as context:
        page = await context.new_page()
        await logged_in(page, gateway, gateway.keys.alice_submit, errors)
        await page.goto(f"{gateway.url}/ui/#/jobs")
        await page.wait_for_selector("#jobs-table", timeout=TIMEOUT_MS)
        await until_true(page, "document.querySelector('#live-state')?.dataset.state === 'on'")
        expected: dict[str, str] = {}
        async with as_key(gateway, gateway.keys.alice_submit) as api:
            for body, subject in JOBS:
                answer = await api.post("/jobs/submit", json=body)
                assert answer.status_code in (200, 201, 202), answer.text
                expected[answer.json()["task_id"]] = subject
        ids = list(expected)
        try:
            row_subject = "document.querySelector(`#jobs-body tr[data-task='${id}'] .subject`)"
            await until_true(page, f"{ids!r}.every((id) => {row_subject})")
        except AssertionError:
            await page.screenshot(path=shots / "live-missing.png")
            raise AssertionError(f"rows shown: {await subjects(page)}; wanted {expected}") from None
        live = await subjects(page)
        await page.screenshot(path=shots / "live-inserted.png")
        assert {task: live.get(task) for task in ids} == expected

        await page.reload()
        await until_true(
            page, f"{ids!r}.every((id) => document.querySelector(`#jobs-body tr[data-task='${{id}}']`))"
        )
        reloaded = await subjects(page)
        await page.screenshot(path=shots / "after-reload.png")
        assert {task: reloaded.get(task) for task in ids} == expected
        html = await page.content()
        assert "hunter2" not in html
        assert not errors, errors


async def choose_type(page: Page, gateway: Gateway, job_type: str) -> None:
    await page.goto(f"{gateway.url}/ui/#/submit?type={job_type}")
    await page.wait_for_selector(f"#submit-job:has-text('Submit {job_type}')", timeout=TIMEOUT_MS)


@pytest.mark.timeout(180)
async def test_the_submit_form_takes_lists_as_lists_and_unions_as_choices(
    gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    """A thumbnail's sources one a line, its sizes comma separated and its format chosen; an optimize job's
    format chosen from the formats and "keep"; a size the API refuses, and one that is no number, shown next
    to the sizes field."""
    shots = output_dir(request)
    errors: list[str] = []
    async with chromium() as browser, page_context(browser, width=1280, height=1100) as context:
        page = await context.new_page()
        await logged_in(page, gateway, gateway.keys.alice_submit, errors)
        async with as_key(gateway, gateway.keys.alice_submit) as api:
            await choose_type(page, gateway, "thumbnail")
            assert await page.evaluate("document.querySelector('#field-sources').tagName") == "TEXTAREA"
            assert await page.evaluate("document.querySelector('#field-format').tagName") == "SELECT"
            await page.fill("#field-sources", "lib/photo.jpg\n  lib/other photo.jpg  \n\n")
            await page.fill("#field-sizes", "abc, 64")
            await page.click("#submit-job")
            await page.wait_for_selector("[data-field=sizes] .field-error", timeout=TIMEOUT_MS)
            assert "abc" in await page.inner_text("[data-field=sizes] .field-error")
            assert page.url.endswith("type=thumbnail")  # nothing was sent

            await page.fill("#field-sizes", "4, 64")  # 4: below the minimum of 8, refused by the API
            await page.click("#submit-job")
            await until_true(
                page,
                "(document.querySelector('[data-field=sizes] .field-error')?.textContent || '')"
                ".includes('“4”: Input should be greater than or equal to 8')",
            )
            assert not await page.locator("[data-field=sources] .field-error").count()
            await page.screenshot(path=shots / "submit-refused.png", full_page=True)

            await page.fill("#field-sizes", "64,\n128")
            await page.select_option("#field-format", "webp")
            await page.click("#submit-job")
            await page.wait_for_url("**/#/job/*", timeout=TIMEOUT_MS)
            task_id = page.url.rsplit("/", 1)[1]
            job = (await api.get(f"/jobs/{task_id}/status")).json()
            wanted = {
                "sources": ["lib/photo.jpg", "lib/other photo.jpg"],
                "sizes": [64, 128],
                "format": "webp",
            }
            assert {k: job["request"][k] for k in wanted} == wanted

            await choose_type(page, gateway, "image_optimize")
            options = await page.eval_on_selector_all("#field-format option", "os => os.map(o => o.value)")
            assert set(options) >= {"jpeg", "webp", "avif", "png", "keep"}
            assert await page.eval_on_selector("#field-format", "s => s.value") == "keep"
            await page.fill("#field-sources", "lib/photo.jpg")
            await page.select_option("#field-format", "avif")
            await page.screenshot(path=shots / "submit-optimize.png", full_page=True)
            await page.click("#submit-job")
            await page.wait_for_url("**/#/job/*", timeout=TIMEOUT_MS)
            task_id = page.url.rsplit("/", 1)[1]
            job = (await api.get(f"/jobs/{task_id}/status")).json()
            assert (job["request"]["sources"], job["request"]["format"]) == (["lib/photo.jpg"], "avif")
        assert not errors, errors
