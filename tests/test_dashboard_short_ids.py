"""Finding a job by the id the dashboard shows: the whole id, its first digits, or `7ffd509e…0bed` — in the
listing API's search (`q`) and in the dashboard's search boxes, never across owners. A gateway on a Redis
database of its own, holding job records made with chosen ids (no service runs them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from redis.asyncio import Redis

from jobcommon import Job, JobStatus
from jobcommon.store import JobStore
from tests.conftest import ApiKeys, bearer, private_cluster, wait_until_ready
from tests.support.browser import chromium, output_dir, page_context, until_true
from tests.support.otlp import OtlpReceiver
from tests.test_dashboard_ui import nothing_clipped
from tools.localredis import free_port

if TYPE_CHECKING:
    from playwright.async_api import Page

SHORT_IDS_DB = 12
TIMEOUT_MS = 20_000
BASE = datetime(2026, 3, 1, tzinfo=UTC)
FILLERS = 500


def tid(head: str, tail: str = "", fill: str = "0") -> str:
    """A task id starting with `head` and ending with `tail`."""
    return head + fill * (32 - len(head) - len(tail)) + tail


OLD = tid("0dd0")
"""Alice's oldest job: beyond her 500 newest."""
ONE = tid("7ffd509e", "0bed", "a")
TWO = tid("7ffd509e", "1234", "b")
BOBS_TWIN = tid("7ffd509e", "0bed", "c")
"""Bob's job with the same short form as Alice's ONE."""
BOBS = tid("b0b0b0b0", "", "d")
BY_ID = tid("cafe1234", "", "e")
"""Found by id; TEXT and OLDER_TEXT are found by a word of their URL (the same digits)."""
TEXT = tid("1e", "", "1")
OLDER_TEXT = tid("1d", "", "1")
WORDS_ONLY = tid("2e", "", "3")
"""Found by a word of its URL that reads as a short id no job has (`decade42`)."""
BOTH = tid("beef5678", "", "2")
"""Found by id and by its URL alike: listed and counted once."""


def record(task_id: str, owner: str, seconds: int, url: str | None = None) -> Job:
    return Job(
        task_id=task_id,
        job_type="video_info",
        queue="metadata",
        status=JobStatus.QUEUED,
        created_at=BASE + timedelta(seconds=seconds),
        owner=owner,
        request={"job_type": "video_info", "url": url or f"https://media.example/clip-{seconds}.mp4"},
    )


@dataclass
class Gateway:
    url: str
    keys: ApiKeys


@pytest.fixture(scope="module")
async def gateway(
    redis_url: str, otlp: OtlpReceiver, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    """A gateway alone (nothing runs the jobs) on its own database, with the records above and 500 newer
    jobs of Alice's in between her oldest one and the rest."""
    folder = tmp_path_factory.mktemp("short-ids")
    async with private_cluster(redis_url, SHORT_IDS_DB, folder / "media", otlp) as cluster:
        jobs = [record(OLD, "alice", 0)]
        jobs += [record(tid("f", f"{i:05d}", "f"), "alice", 10 + i) for i in range(FILLERS)]
        later = 10 + FILLERS
        jobs += [
            record(WORDS_ONLY, "alice", later, "https://media.example/decade42/clip.mp4"),
            record(OLDER_TEXT, "alice", later + 1, "https://media.example/cafe1234/older.mp4"),
            record(BY_ID, "alice", later + 2),
            record(TEXT, "alice", later + 3, "https://media.example/cafe1234/newer.mp4"),
            record(BOTH, "alice", later + 4, "https://media.example/beef5678.mp4"),
            record(TWO, "alice", later + 5),
            record(ONE, "alice", later + 6),
            record(BOBS_TWIN, "bob", later + 7),
            record(BOBS, "bob", later + 8),
        ]
        async with Redis.from_url(cluster.redis_url, decode_responses=True) as redis:
            store = JobStore(redis, cluster.settings)
            for start in range(0, len(jobs), 20):
                await asyncio.gather(*(store.create(job) for job in jobs[start : start + 20]))
        port = free_port()
        cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(folder)))
        url = f"http://127.0.0.1:{port}"
        try:
            await asyncio.to_thread(wait_until_ready, url, set(), api_keys.admin, 60.0)
        except RuntimeError:
            raise RuntimeError(cluster.logs()) from None
        yield Gateway(url, api_keys)


def as_key(gateway: Gateway, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=bearer(key))


async def listed(client: httpx.AsyncClient, q: str, **params: Any) -> list[str]:
    response = await client.get("/jobs/list", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [job["task_id"] for job in response.json()["jobs"]]


async def counted(client: httpx.AsyncClient, q: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/jobs/counts", params={"q": q, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_whole_id_a_prefix_or_the_shortened_form_finds_the_job(gateway: Gateway) -> None:
    """Every form people copy finds Alice's job (case and blanks aside); a tail that differs finds none."""
    async with as_key(gateway, gateway.keys.alice_read) as alice:
        assert await listed(alice, ONE) == [ONE]
        assert await listed(alice, f"  {ONE.upper()} ") == [ONE]
        assert await listed(alice, "7ffd509e") == [ONE, TWO]
        assert await listed(alice, "7ffd") == [ONE, TWO]
        assert await listed(alice, "7ffd509e…0bed") == [ONE]
        assert await listed(alice, "7FFD509E...0BED") == [ONE]
        assert await listed(alice, "7ffd509e..1234") == [TWO]
        assert await listed(alice, "7ffd509e…") == [ONE, TWO]  # copied with the ellipsis but no tail
        assert await listed(alice, "7ffd509e…0bee") == []
        assert await listed(alice, tid("7ffd509e", "0bee", "a")) == []
        assert await listed(alice, "7ffd509e", status="queued") == [ONE, TWO]
        assert await listed(alice, "7ffd509e", status="failed") == []
        assert await listed(alice, "7ffd509e", job_type="echo") == []
        counts = await counted(alice, "7ffd509e…0bed", status="failed")  # status is ignored by counts
        assert (counts["total"], counts["counts"]["queued"], counts["approximate"]) == (1, 1, False)
        assert (await counted(alice, "7ffd509e…0bee"))["total"] == 0


async def test_owners_stay_isolated(gateway: Gateway) -> None:
    """Bob never finds Alice's job by any form of its id, nor she his; an admin finds both, or one
    owner's with `owner`."""
    async with (
        as_key(gateway, gateway.keys.alice_submit) as alice,
        as_key(gateway, gateway.keys.bob_submit) as bob,
        as_key(gateway, gateway.keys.admin) as admin,
    ):
        for form in (ONE, "7ffd509e", "7ffd509e…0bed", "7ffd"):
            assert await listed(bob, form) == ([BOBS_TWIN] if form != ONE else [])
            assert ONE not in await listed(bob, form)
        assert (await counted(bob, ONE))["total"] == 0
        assert (await counted(bob, "7ffd509e…0bed"))["total"] == 1  # his own twin only
        for form in (BOBS, "b0b0b0b0", "b0b0"):
            assert await listed(alice, form) == []
            assert (await counted(alice, form))["total"] == 0
        assert await listed(admin, "7ffd509e…0bed") == [BOBS_TWIN, ONE]
        assert (await counted(admin, "7ffd509e…0bed"))["total"] == 2
        assert await listed(admin, "7ffd509e…0bed", owner="alice") == [ONE]
        assert await listed(admin, BOBS, owner="alice") == []
        assert await listed(admin, BOBS) == [BOBS]
        refused = await bob.get("/jobs/list", params={"q": ONE, "owner": "alice"})
        assert refused.status_code == 403


async def test_a_short_id_is_looked_for_among_the_500_newest_a_whole_one_at_any_age(gateway: Gateway) -> None:
    async with as_key(gateway, gateway.keys.alice_read) as alice:
        assert await listed(alice, "0dd0") == []
        assert await listed(alice, OLD) == [OLD]
        assert (await counted(alice, OLD))["total"] == 1
        assert await listed(alice, OLD, since=(BASE + timedelta(seconds=5)).isoformat()) == []


async def test_id_and_text_matches_are_listed_together_in_order_each_once(gateway: Gateway) -> None:
    """Digits that are a job's id and words of other jobs' URLs find all of them, newest first, page by page
    with the cursor (none lost, none twice); a job found both ways is listed and counted once."""
    async with as_key(gateway, gateway.keys.alice_read) as alice:
        everything = [TEXT, BY_ID, OLDER_TEXT]
        assert await listed(alice, "cafe1234") == everything
        counts = await counted(alice, "cafe1234")
        assert (counts["total"], counts["counts"]["queued"]) == (3, 3)
        for limit in (1, 2):
            seen: list[str] = []
            cursor: str | None = None
            for _ in range(10):
                response = await alice.get(
                    "/jobs/list", params={"q": "cafe1234", "limit": limit, "cursor": cursor}
                )
                page = response.json()
                assert len(page["jobs"]) <= limit
                seen += [job["task_id"] for job in page["jobs"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert seen == everything, limit
        assert await listed(alice, "beef5678") == [BOTH]
        assert (await counted(alice, "beef5678"))["total"] == 1
        assert await listed(alice, "cafe") == everything  # the last word as a prefix, the id's first digits
        refused = await alice.get("/jobs/list", params={"q": "cafe1234", "offset": 1})
        assert refused.status_code == 422
        assert "cursor" in refused.text


async def test_the_openapi_document_describes_q_once(gateway: Gateway) -> None:
    async with as_key(gateway, gateway.keys.alice_read) as alice:
        document = (await alice.get("/openapi.json")).json()
    for path in ("/jobs/list", "/jobs/counts"):
        named = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "q"]
        assert len(named) == 1
        assert "7ffd509e…0bed" in named[0]["description"]


# -- the dashboard ---------------------------------------------------------------------------------------


ROWS = "[...document.querySelectorAll('#jobs-body tr[data-task]')].map(r => r.dataset.task)"


async def rows_are(page: Page, expected: list[str]) -> None:
    await until_true(page, f"JSON.stringify({ROWS}) === '{json.dumps(expected, separators=(',', ':'))}'")


async def search_for(page: Page, text: str) -> None:
    await page.fill("#f-q", text)
    await until_true(
        page, f"decodeURIComponent(location.hash.replace(/\\+/g, ' ')).includes('q={text.strip()}')"
    )


@pytest.mark.timeout(180)
async def test_the_dashboard_finds_a_job_by_the_id_it_shows(
    gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    """Alice copies a row's shortened id into the search box and finds that job; its first digits find
    both of hers; Bob's id finds nothing and the page says why; "/" with a short id opens the one job it
    names; the job page's copy button and links carry the whole id."""
    shots = output_dir(request)
    async with chromium() as browser, page_context(browser) as context:
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{gateway.url}/ui/")
        await page.fill("#api_key", gateway.keys.alice_submit)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("#jobs-body tr[data-task]", timeout=TIMEOUT_MS)

        # The id as the row shows it, pasted into the search box: that job alone.
        shown = await page.inner_text(f'#jobs-body tr[data-task="{ONE}"] a.id')
        assert shown == "7ffd509e…0bed"
        assert await page.get_attribute(f'#jobs-body tr[data-task="{ONE}"] a.id', "href") == f"#/job/{ONE}"
        await search_for(page, shown)
        await rows_are(page, [ONE])
        await until_true(
            page, "document.querySelector('.tabs [data-status=all] .count')?.textContent === '1'"
        )
        await page.screenshot(path=shots / "short-form.png")

        # Its first digits: both of Alice's jobs that start so (never Bob's twin).
        await search_for(page, "7ffd509e")
        await rows_are(page, [ONE, TWO])
        await search_for(page, ONE.upper())
        await rows_are(page, [ONE])

        # Bob's job: nothing, and the page says so in words.
        await search_for(page, "b0b0b0b0")
        await page.wait_for_selector("#jobs-body td.empty", timeout=TIMEOUT_MS)
        empty = await page.inner_text("#jobs-body td.empty")
        assert "b0b0b0b0" in empty, empty
        assert "500 newest" in empty, empty
        await page.screenshot(path=shots / "no-match.png")
        await search_for(page, BOBS)
        await until_true(
            page, "document.querySelector('#jobs-body td.empty')?.textContent.includes('not yours')"
        )

        # Digits no id starts with, yet a word of a job's URL: that job, and a note that no id matched.
        await search_for(page, "decade42")
        await rows_are(page, [WORDS_ONLY])
        note = await page.inner_text("#id-note")
        assert "No job id among the 500 newest matches “decade42”" in note, note
        await page.screenshot(path=shots / "words-only.png")

        # On a phone the message and the job page's copy button fit (nothing to scroll sideways to).
        await page.set_viewport_size({"width": 390, "height": 844})
        await search_for(page, "7ffd509e…0bee")
        await page.wait_for_selector("#jobs-body td.empty", timeout=TIMEOUT_MS)
        await nothing_clipped(page, "no match, phone")
        await page.screenshot(path=shots / "no-match-phone.png")
        await page.goto(f"{gateway.url}/ui/#/job/{ONE}")
        await page.wait_for_selector("#copy-id", timeout=TIMEOUT_MS)
        await nothing_clipped(page, "job page, phone")
        await page.screenshot(path=shots / "job-phone.png")
        await page.set_viewport_size({"width": 1280, "height": 800})

        # "/" and a short id that names one job: its page opens.
        await page.click("body")
        await page.keyboard.press("/")
        await page.keyboard.type("7ffd509e…1234")
        await page.keyboard.press("Enter")
        await until_true(page, f"location.hash === '#/job/{TWO}'")
        await until_true(page, f"document.querySelector('#job-id')?.textContent === '{TWO}'")

        # Its copy button copies the whole id.
        await page.click("#copy-id")
        await until_true(page, "document.querySelector('#copy-id').textContent === 'Copied'")
        assert await page.evaluate("navigator.clipboard.readText()") == TWO
        await page.screenshot(path=shots / "job-copy.png")

        # "/" and digits several jobs start with: the list of them.
        await page.keyboard.press("/")
        await page.keyboard.type("7ffd")
        await page.keyboard.press("Enter")
        await rows_are(page, [ONE, TWO])
        assert await page.input_value("#f-q") == "7ffd"
        # ... and digits no job of hers has: the list, saying so.
        await page.keyboard.press("/")
        await page.keyboard.type("b0b0…dddd")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#jobs-body td.empty", timeout=TIMEOUT_MS)
        assert "b0b0…dddd" in await page.inner_text("#jobs-body td.empty")
        await page.screenshot(path=shots / "jump-no-match.png")
    assert not errors, errors
