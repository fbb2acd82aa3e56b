"""Finding a dead job by its task id: the dead letters' search text (`q` of `GET /jobs/dead`, its summary, and
the bulk retry / purge `filter`) finds a dead job by its whole id, its first 4+ digits or the id as the
dashboard shows it (`7ffd509e…0bed`), as well as by its words (each job once), never across owners, and the
listing, the summary and a retry by the same filter take the same jobs. A gateway alone on a Redis database
of its own, holding dead jobs made with chosen ids (no service runs them)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from jobcommon import Job, JobClient, JobStatus, keys
from jobcommon.models import ErrorInfo
from tests.conftest import ApiKeys, bearer
from tests.support.browser import chromium, output_dir, page_context, until_true
from tests.support.lone_gateway import LoneGateway, lone_gateway
from tests.support.otlp import OtlpReceiver

if TYPE_CHECKING:
    from playwright.async_api import Page

DEAD_ID_SEARCH_DB = 1
TIMEOUT_MS = 20_000
BASE = datetime(2026, 3, 1, tzinfo=UTC)


def tid(head: str, tail: str = "", fill: str = "0") -> str:
    """A task id starting with `head` and ending with `tail`."""
    return head + fill * (32 - len(head) - len(tail)) + tail


# Alice's dead jobs, oldest first.
WORDS = tid("2e", "", "3")
"""Found by a word of its URL (`cafe1234`), which is also BY_ID's first digits."""
TWO = tid("7ffd509e", "1234", "b")
BY_ID = tid("cafe1234", "", "e")
BOTH = tid("beef5678", "", "2")
"""Found by its id and by a word of its URL alike: listed and counted once."""
ONE = tid("7ffd509e", "0bed", "a")
DEAD_SEED = tid("5eed", "", "5")
# Bob's dead job with the same short form as Alice's ONE.
BOBS_TWIN = tid("7ffd509e", "0bed", "c")
# Alice's jobs that are not dead letters: one that failed without being dead-lettered, one queued.
FAILED_ALIVE = tid("5eed", "", "6")
QUEUED = tid("5eed", "", "7")

# For the retry by filter (jobs of their own: a retry changes them). Alice's, oldest first, then Bob's.
R_WORDS = tid("1f", "", "7")
"""Found by a word of its URL (`d00dfeed`), the others' first digits."""
R_TWO = tid("d00dfeed", "0002", "8")
R_ONE = tid("d00dfeed", "0001", "9")
R_BOBS = tid("d00dfeed", "0003", "a")


def job(
    task_id: str, owner: str, seconds: int, *, url: str | None = None, error: str = "DownloadError"
) -> Job:
    """A video_info job of `owner`'s that ran out of attempts with an `error` of that type."""
    return Job(
        task_id=task_id,
        job_type="video_info",
        queue="metadata",
        status=JobStatus.FAILED,
        created_at=BASE + timedelta(seconds=seconds),
        owner=owner,
        request={"job_type": "video_info", "url": url or f"https://media.example/clip-{seconds}.mp4"},
        attempts=1,
        max_attempts=1,
        finished_at=BASE + timedelta(seconds=seconds, minutes=1),
        dead=True,
        error=ErrorInfo(type=error, message="the host answered 500"),
    )


async def bury(client: JobClient, dead: Job) -> None:
    """Record `dead` and its dead letter, as a worker does when a job runs out of attempts."""
    await client.store.create(dead)
    await client.redis.xadd(
        keys.DEAD_LETTERS, {"task_id": dead.task_id, "queue": dead.queue, "reason": "RetriesExhausted"}
    )


@pytest.fixture(scope="module")
async def gateway(
    redis_url: str, otlp: OtlpReceiver, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LoneGateway]:
    """A gateway alone (nothing runs the jobs) on its own database, with the jobs above."""
    folder = tmp_path_factory.mktemp("dead-id-search")
    async with lone_gateway(redis_url, DEAD_ID_SEARCH_DB, otlp, api_keys, folder) as gateway:
        async with JobClient(gateway.cluster.settings) as client:
            for dead in (
                job(WORDS, "alice", 1, url="https://media.example/cafe1234/clip.mp4"),
                job(TWO, "alice", 2, error="ExtractorError"),
                job(BY_ID, "alice", 3),
                job(BOTH, "alice", 4, url="https://media.example/beef5678.mp4"),
                job(ONE, "alice", 5),
                job(DEAD_SEED, "alice", 6),
                job(BOBS_TWIN, "bob", 7),
                job(R_WORDS, "alice", 8, url="https://media.example/d00dfeed/clip.mp4"),
                job(R_TWO, "alice", 9, error="ExtractorError"),
                job(R_ONE, "alice", 10),
                job(R_BOBS, "bob", 11),
            ):
                await bury(client, dead)
            not_dead = job(FAILED_ALIVE, "alice", 12).model_copy(update={"dead": False})
            await client.store.create(not_dead)
            queued = job(QUEUED, "alice", 13).model_copy(
                update={"status": JobStatus.QUEUED, "dead": False, "error": None}
            )
            await client.store.create(queued)
        yield gateway


def as_key(gateway: LoneGateway, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=bearer(key))


async def dead(client: httpx.AsyncClient, q: str, **params: Any) -> list[str]:
    response = await client.get("/jobs/dead", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [letter["job"]["task_id"] for letter in response.json()]


async def summary(client: httpx.AsyncClient, q: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/jobs/dead/summary", params={"q": q, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def act(client: httpx.AsyncClient, verb: str, dry_run: bool, **selection: Any) -> dict[str, int]:
    response = await client.post(f"/jobs/dead/{verb}", json={"filter": selection, "dry_run": dry_run})
    assert response.status_code == 200, response.text
    body: dict[str, int] = response.json()
    return body


async def test_the_whole_id_a_prefix_or_the_shortened_form_finds_the_dead_job(gateway: LoneGateway) -> None:
    """Every form people copy finds Alice's dead job (case and blanks aside), newest first; digits two of
    her dead jobs start with find both; a tail that differs finds none."""
    async with as_key(gateway, gateway.keys.alice_read) as alice:
        assert await dead(alice, ONE) == [ONE]
        assert await dead(alice, f"  {ONE.upper()} ") == [ONE]
        assert await dead(alice, "7ffd509e") == [ONE, TWO]
        assert await dead(alice, "7ffd") == [ONE, TWO]
        assert await dead(alice, "7ffd509e", order="oldest") == [TWO, ONE]
        assert await dead(alice, "7ffd509e…0bed") == [ONE]
        assert await dead(alice, "7FFD509E...0BED") == [ONE]
        assert await dead(alice, "7ffd509e..1234") == [TWO]
        assert await dead(alice, "7ffd509e…") == [ONE, TWO]
        assert await dead(alice, "7ffd509e…0bee") == []
        assert await dead(alice, tid("7ffd509e", "0bee", "a")) == []
        # The other filters still apply to what the id finds.
        assert await dead(alice, "7ffd509e", error_type="ExtractorError") == [TWO]
        assert await dead(alice, "7ffd509e", job_type="echo") == []


async def test_only_dead_jobs_are_found_by_id(gateway: LoneGateway) -> None:
    """The ids of Alice's jobs that are not dead letters (one failed without running out of attempts, one
    queued) find nothing; the digits they share with a dead job find that one alone."""
    async with as_key(gateway, gateway.keys.alice_submit) as alice:
        assert await dead(alice, FAILED_ALIVE) == []
        assert await dead(alice, QUEUED) == []
        assert await dead(alice, f"{FAILED_ALIVE[:8]}…{FAILED_ALIVE[-4:]}") == []
        assert await dead(alice, "5eed") == [DEAD_SEED]
        assert (await summary(alice, "5eed"))["total"] == 1
        assert (await summary(alice, FAILED_ALIVE))["total"] == 0
        assert (await act(alice, "retry", True, q="5eed"))["matched"] == 1


async def test_owners_stay_isolated(gateway: LoneGateway) -> None:
    """Bob never finds Alice's dead job by any form of its id, nor she his, in the listing, the summary or a
    bulk action's filter; an admin finds both, or one owner's with `owner`."""
    async with (
        as_key(gateway, gateway.keys.alice_submit) as alice,
        as_key(gateway, gateway.keys.bob_submit) as bob,
        as_key(gateway, gateway.keys.admin) as admin,
    ):
        for form in (ONE, "7ffd509e", "7ffd509e…0bed", "7ffd"):
            assert await dead(bob, form) == ([BOBS_TWIN] if form != ONE else [])
        assert await dead(bob, ONE) == []
        assert (await summary(bob, ONE))["total"] == 0
        assert (await act(bob, "retry", True, q=ONE))["matched"] == 0
        assert (await summary(bob, "7ffd509e…0bed"))["total"] == 1  # his own twin only
        assert await dead(alice, BOBS_TWIN) == []
        assert await dead(alice, "7ffd509e…0bed") == [ONE]
        assert await dead(admin, "7ffd509e…0bed") == [BOBS_TWIN, ONE]
        assert (await summary(admin, "7ffd509e…0bed"))["total"] == 2
        assert await dead(admin, "7ffd509e…0bed", owner="alice") == [ONE]
        assert await dead(admin, BOBS_TWIN, owner="alice") == []
        assert (await act(admin, "purge", True, q="7ffd509e…0bed", owner="bob"))["matched"] == 1
        refused = await bob.get("/jobs/dead", params={"q": ONE, "owner": "alice"})
        assert refused.status_code == 403


async def test_id_and_word_matches_are_listed_together_each_once(gateway: LoneGateway) -> None:
    """Digits that are one dead job's first ones and a word of another's URL find both, newest first; a job
    found both ways is listed and counted once."""
    async with as_key(gateway, gateway.keys.alice_read) as alice:
        assert await dead(alice, "cafe1234") == [BY_ID, WORDS]
        assert await dead(alice, "cafe") == [BY_ID, WORDS]  # the last word as a prefix, the id's first digits
        assert (await summary(alice, "cafe1234"))["total"] == 2
        assert await dead(alice, "beef5678") == [BOTH]
        assert (await summary(alice, "beef5678"))["total"] == 1
        assert await dead(alice, "cafe1234 clip") == [WORDS]  # words that are no id: the words alone


async def test_the_summary_and_a_retry_by_filter_take_what_the_listing_shows(gateway: LoneGateway) -> None:
    """The listing, the summary, a dry run and a retry by the same `q` take the same jobs: by id, by words, or
    both; a retry by the shortened form retries that one job alone."""
    async with (
        as_key(gateway, gateway.keys.alice_submit) as alice,
        as_key(gateway, gateway.keys.admin) as admin,
    ):
        assert await dead(alice, "d00dfeed") == [R_ONE, R_TWO, R_WORDS]
        groups = await summary(alice, "d00dfeed")
        assert groups["total"] == 3
        assert {g["error_type"]: g["count"] for g in groups["groups"]} == {
            "DownloadError": 2,
            "ExtractorError": 1,
        }
        assert await act(alice, "retry", True, q="d00dfeed") == {"matched": 3, "retried": 0}
        assert await act(admin, "purge", True, q="d00dfeed", owner="alice") == {"matched": 3, "purged": 0}
        assert (await act(admin, "retry", True, q="d00dfeed"))["matched"] == 4  # Bob's too

        assert await act(alice, "retry", False, q="d00dfeed…0001") == {"matched": 1, "retried": 1}
        assert (await alice.get(f"/jobs/{R_ONE}/status")).json()["status"] == "queued"
        assert (await alice.get(f"/jobs/{R_TWO}/status")).json()["status"] == "failed"
        assert await dead(alice, "d00dfeed") == [R_TWO, R_WORDS]
        assert (await summary(alice, "d00dfeed"))["total"] == 2

        assert await act(alice, "retry", False, q="d00dfeed") == {"matched": 2, "retried": 2}
        for task_id in (R_TWO, R_WORDS):
            assert (await alice.get(f"/jobs/{task_id}/status")).json()["status"] == "queued"
        assert await dead(alice, "d00dfeed") == []
        assert (await summary(alice, "d00dfeed"))["total"] == 0
        assert await dead(admin, "d00dfeed") == [R_BOBS]  # Bob's stays dead


async def test_the_openapi_document_says_q_finds_ids(gateway: LoneGateway) -> None:
    async with as_key(gateway, gateway.keys.alice_read) as alice:
        document = (await alice.get("/openapi.json")).json()
    for path in ("/jobs/dead", "/jobs/dead/summary"):
        named = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "q"]
        assert len(named) == 1
        assert "7ffd509e…0bed" in named[0]["description"]
    selection = document["components"]["schemas"]["DeadSelection"]["properties"]["q"]
    assert "7ffd509e…0bed" in selection["description"]


# -- the dashboard ---------------------------------------------------------------------------------------


ROWS = "[...document.querySelectorAll('#dead-body tr[data-task]')].map(r => r.dataset.task)"
SEARCH = "input[aria-label^='Search dead letters']"


async def rows_are(page: Page, expected: list[str]) -> None:
    await until_true(page, f"JSON.stringify({ROWS}) === '{json.dumps(expected, separators=(',', ':'))}'")


@pytest.mark.timeout(180)
async def test_the_dead_letters_page_finds_a_dead_job_by_the_id_it_shows(
    gateway: LoneGateway, request: pytest.FixtureRequest
) -> None:
    """Alice pastes the shortened id the page shows into its search box: that dead job alone, and the
    count above says 1; the id of a job of hers that is not dead finds none, and the page says so."""
    shots = output_dir(request)
    async with chromium() as browser, page_context(browser) as context:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{gateway.url}/ui/")
        await page.fill("#api_key", gateway.keys.alice_submit)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("#jobs-body", timeout=TIMEOUT_MS)
        await page.goto(f"{gateway.url}/ui/#/dead")
        await page.wait_for_selector(f'#dead-body tr[data-task="{ONE}"]', timeout=TIMEOUT_MS)
        assert "job id" in (await page.get_attribute(SEARCH, "placeholder") or "")

        shown = await page.inner_text(f'#dead-body tr[data-task="{ONE}"] a.id')
        assert shown == "7ffd509e…0bed"
        await page.fill(SEARCH, shown)
        await page.press(SEARCH, "Enter")
        await rows_are(page, [ONE])
        await until_true(page, "document.querySelector('.page-head .count')?.textContent === '1'")
        await page.screenshot(path=shots / "short-form.png")

        await page.fill(SEARCH, FAILED_ALIVE)
        await page.press(SEARCH, "Enter")
        await page.wait_for_selector("#dead-body td.empty", timeout=TIMEOUT_MS)
        empty = await page.inner_text("#dead-body td.empty")
        assert FAILED_ALIVE in empty, empty
        await page.screenshot(path=shots / "not-dead.png")
    assert not errors, errors
