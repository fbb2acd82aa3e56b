"""The dashboard's API: index-backed listing (filters, search, cursor pages, counts), the multiplexed event
stream, job types, dead-letter groups and bulk actions, queue samples and workers — against a real Redis and
the running stack."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from httpx_sse import aconnect_sse
from redis.asyncio import Redis

from gateway.api_keys import ApiKey, Role
from gateway.dead_routes import DeadAction, DeadSelection, RetryOutcome, retry_dead
from janitor.duties import Housekeeping, queue_stats
from janitor.settings import JanitorSettings
from jobcommon import QUEUES, CommonSettings, ErrorInfo, Job, JobClient, JobStatus, keys
from jobcommon.broker import ensure_groups
from jobcommon.job_index import JobQuery
from jobcommon.queue_samples import recent
from jobcommon.queues import Queue
from jobcommon.search_tokens import request_tokens
from jobcommon.store import Delivery, JobStore
from tests.conftest import ApiKeys, Stack, bearer
from tests.jobs import status, submit, wait_terminal
from tests.support.dead_letters import bury

INDEX_DB = 9
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def index_redis(redis_url: str) -> AsyncIterator[Redis]:
    """A database of its own: thousands of records no service will ever run."""
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{INDEX_DB}", decode_responses=True)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def _entry_order(entry_id: str) -> tuple[int, int]:
    millis, sequence = entry_id.split("-")
    return int(millis), int(sequence)


def as_key(stack: Stack, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers=bearer(key))


def _record(i: int) -> Job:
    """Job i: alice's when even, bob's when odd; every third a video_info; cats or dogs in its URL."""
    animal = "cats" if i % 2 == 0 else "dogs"
    video = i % 3 == 0
    return Job(
        task_id=f"t{i:06d}",
        job_type="video_info" if video else "echo",
        queue="metadata" if video else "default",
        status=JobStatus.QUEUED,
        created_at=BASE + timedelta(seconds=i),
        owner="alice" if i % 2 == 0 else "bob",
        request={"job_type": "video_info", "url": f"https://media.example/{animal}/clip-{i}.mp4"}
        if video
        else {"job_type": "echo", "payload": {"i": i}},
    )


async def _create_all(store: JobStore, jobs: list[Job]) -> None:
    for start in range(0, len(jobs), 10):
        await asyncio.gather(*(store.create(job) for job in jobs[start : start + 10]))


async def _walk(store: JobStore, query: JobQuery, limit: int) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await store.search(query, limit=limit, cursor=cursor)
        seen += [job.task_id for job in page.jobs]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError("paging never ended")


def test_search_tokens_are_lower_case_words_of_url_and_title() -> None:
    tokens = request_tokens({"url": "https://www.Example.COM/Watch/My_Cat?v=1#t", "title": "Ünïcode TITLE"})
    assert tokens == ["example", "com", "watch", "my", "cat", "ünïcode", "title"]
    assert len(request_tokens({"url": "https://h/" + "/".join(f"w{i}x" for i in range(100))})) == 32


async def test_index_pages_filters_searches_and_counts_thousands_of_jobs(
    index_redis: Redis, settings: CommonSettings
) -> None:
    store = JobStore(index_redis, settings)
    jobs = [_record(i) for i in range(3000)]
    await _create_all(store, jobs)
    alice = sorted((j.task_id for j in jobs if j.owner == "alice"), reverse=True)

    started = time.perf_counter()
    first = await store.search(JobQuery(owner="alice"), limit=50)
    page_s = time.perf_counter() - started
    assert [j.task_id for j in first.jobs] == alice[:50]
    assert await _walk(store, JobQuery(owner="alice"), 173) == alice  # every job once, newest first

    # status moves: running, failed with an error (searchable), cancelled
    for job in jobs[:30]:
        await store.transition(job.task_id, allowed=(JobStatus.QUEUED,), to=JobStatus.RUNNING)
    for job in jobs[:10]:
        failed = await store.transition(
            job.task_id,
            allowed=(JobStatus.RUNNING,),
            to=JobStatus.FAILED,
            error=ErrorInfo(type="DiskFull", message="no space left on device"),
        )
        assert failed.applied
    started = time.perf_counter()
    counts = await store.index.counts(JobQuery(owner="alice"))
    count_s = time.perf_counter() - started
    assert counts.counts == {
        "scheduled": 0,
        "queued": 1500 - 15,
        "running": 10,
        "retrying": 0,
        "succeeded": 0,
        "failed": 5,
        "cancelled": 0,
    }
    assert (counts.total, counts.approximate) == (1500, False)
    running = await _walk(store, JobQuery(owner="bob", status=JobStatus.RUNNING), 4)
    assert running == sorted((j.task_id for j in jobs[10:30] if j.owner == "bob"), reverse=True)

    # type, queue and creation-time filters
    video = await _walk(store, JobQuery(job_type="video_info", since=BASE.timestamp() + 100), 500)
    assert video == [f"t{i:06d}" for i in range(2999, 99, -1) if i % 3 == 0]
    window = JobQuery(queue="default", since=BASE.timestamp() + 10, until=BASE.timestamp() + 20)
    assert await _walk(store, window, 3) == [f"t{i:06d}" for i in range(20, 9, -1) if i % 3]
    assert (await store.index.counts(window)).total == len([i for i in range(10, 21) if i % 3])

    # search: every word must match, the last one also as a prefix; errors are searchable too
    cats = await _walk(store, JobQuery(tokens=("cats",)), 500)
    assert cats == [f"t{i:06d}" for i in range(2994, -1, -6)]
    assert await _walk(store, JobQuery(tokens=("example", "ca")), 500) == cats
    assert await _walk(store, JobQuery(tokens=("dogs", "cats")), 500) == []
    assert await _walk(store, JobQuery(tokens=("clip", "2994")), 10) == ["t002994"]
    prefixed = await _walk(store, JobQuery(tokens=("clip", "299")), 10)  # 299, 2990 ... 2999: one union
    assert prefixed == ["t002997", "t002994", "t002991"]
    disk = await _walk(store, JobQuery(owner="bob", tokens=("space", "devi")), 10)
    assert disk == ["t000009", "t000007", "t000005", "t000003", "t000001"]
    searched = await store.index.counts(JobQuery(tokens=("cats",)))
    assert (searched.total, searched.counts["failed"], searched.approximate) == (500, 2, False)

    # legacy offset paging still works, and a bad cursor is refused
    offset_page = await store.search(JobQuery(owner="alice"), limit=10, offset=20)
    assert [j.task_id for j in offset_page.jobs] == alice[20:30]
    assert offset_page.next_offset == 30
    for bad in ("not-a-cursor", "9.9.9~abc", "1e999~abc"):
        with pytest.raises(ValueError, match=r"^not a cursor from a previous page$"):
            await store.search(JobQuery(), cursor=bad)

    # records that go (expire) leave the index: on the way through a page, and by the janitor's prune
    gone = [f"t{i:06d}" for i in (0, 6, 12)]
    await index_redis.delete(*(keys.job(t) for t in gone))
    assert await store.prune_index() == 4  # three jobs' index entries, and t000012 from alice's active set
    assert gone[0] not in await _walk(store, JobQuery(tokens=("cats",)), 500)
    for task_id in gone:
        assert await index_redis.hget(keys.INDEX_META, task_id) is None
        assert await index_redis.zscore(keys.search_token("cats"), task_id) is None
        assert await index_redis.zscore(keys.status_index(keys.JOB_INDEX, "failed"), task_id) is None
    # a record deleted and taken out of the global index only (a submission that could not enqueue)
    await index_redis.delete(keys.job("t000018"))
    await index_redis.zrem(keys.JOB_INDEX, "t000018")
    assert await store.prune_index() == 2  # and from alice's active set
    assert await index_redis.hget(keys.INDEX_META, "t000018") is None
    assert await index_redis.zscore(keys.search_token("cats"), "t000018") is None
    await index_redis.delete(keys.job("t002994"))
    assert await store.index.forget(["t002994"]) == 1
    assert await index_redis.zscore(keys.VOCABULARY, "2994") is None  # its only job went
    assert (await store.index.counts(JobQuery(owner="alice"))).total == 1500 - 5

    # every key the index wrote expires
    async for key in index_redis.scan_iter(match=f"{keys.PREFIX}:*", count=1000):
        assert await index_redis.pttl(key) != -1, f"{key} never expires"
    assert page_s < 2.0, page_s
    assert count_s < 2.0, count_s


async def _pages(store: JobStore, query: JobQuery, limit: int, offset: int | None = None) -> list[list[str]]:
    """Each page's task ids, following `next_cursor` (or, from `offset`, `next_offset`) while there is one."""
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(100):
        page = await store.search(query, limit=limit, cursor=cursor, offset=offset or 0)
        pages.append([job.task_id for job in page.jobs])
        if offset is None:
            cursor = page.next_cursor
            if cursor is None:
                return pages
        else:
            offset = page.next_offset
            if offset is None:
                return pages
    raise AssertionError("paging never ended")


async def test_a_page_holding_the_last_matching_jobs_offers_no_cursor(
    index_redis: Redis, settings: CommonSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that holds exactly the remaining jobs has no `next_cursor` (nor `next_offset`): no empty page
    after it. A filter that matches rarely still answers a short page with a cursor when its bounded walk
    ends first."""
    store = JobStore(index_redis, settings)

    def info_job(task_id: str, i: int, owner: str, topic: str) -> Job:
        return Job(
            task_id=task_id,
            job_type="video_info",
            queue="metadata",
            status=JobStatus.QUEUED,
            created_at=BASE + timedelta(seconds=i),
            owner=owner,
            request={"job_type": "video_info", "url": f"https://media.example/{topic}/{i}.mp4"},
        )

    # carol's p11 is the newest; cats only her two newest and her two oldest
    carol = [info_job(f"p{i:02d}", i, "carol", "cats" if i in {0, 1, 10, 11} else "dogs") for i in range(12)]
    # more cats than carol has jobs: her jobs drive the walk, cats is tested per entry
    dave = [info_job(f"d{i:02d}", i, "dave", "cats") for i in range(20)]
    await _create_all(store, carol + dave)
    ids = [f"p{i:02d}" for i in range(11, -1, -1)]
    mine = JobQuery(owner="carol")

    assert await _pages(store, mine, 4) == [ids[0:4], ids[4:8], ids[8:12]]
    assert await _pages(store, mine, 12) == [ids]
    assert await _pages(store, mine, 13) == [ids]
    assert await _pages(store, mine, 5) == [ids[0:5], ids[5:10], ids[10:12]]
    assert await _pages(store, mine, 4, offset=0) == [ids[0:4], ids[4:8], ids[8:12]]
    assert await _pages(store, mine, 6, offset=6) == [ids[6:12]]
    cats = JobQuery(owner="carol", tokens=("cats",))
    assert await _pages(store, cats, 2) == [["p11", "p10"], ["p01", "p00"]]
    assert await _pages(store, cats, 4) == [["p11", "p10", "p01", "p00"]]
    assert await _pages(store, JobQuery(owner="dave", status=JobStatus.QUEUED), 10, offset=10) == [
        [f"d{i:02d}" for i in range(9, -1, -1)]
    ]

    # each call looks at no more than LIST_SCAN_LIMIT entries, the one more match looked for included: the
    # first page cannot tell whether more follow, the second looks at six non-matching jobs (a short page
    # with a cursor), the third finds the last two and, looking on, that nothing follows
    monkeypatch.setattr("jobcommon.store.LIST_SCAN_LIMIT", 6)
    assert await _pages(store, cats, 2) == [["p11", "p10"], [], ["p01", "p00"]]


async def test_list_and_counts_search_within_the_callers_scope(stack: Stack, api_keys: ApiKeys) -> None:
    """Alice finds her failed job by a word of its error; Bob never sees it; an admin sees it with `owner`;
    counts agree with the list; cursor pages continue where the last ended."""
    word = f"zq{uuid.uuid4().hex[:10]}"
    async with (
        as_key(stack, api_keys.alice_submit) as alice,
        as_key(stack, api_keys.alice_read) as reader,
        as_key(stack, api_keys.bob_submit) as bob,
        as_key(stack, api_keys.admin) as admin,
    ):
        before = datetime.now(UTC) - timedelta(seconds=1)
        failed = [
            await submit(alice, {"job_type": "echo", "fail_with": f"Kaboom {word} {n}"}) for n in range(3)
        ]
        for job in failed:
            assert (await wait_terminal(alice, job["task_id"]))["status"] == "failed"
        ids = [job["task_id"] for job in reversed(failed)]

        found = (await reader.get("/jobs/list", params={"q": f"KABOOM {word[:-3]}"})).json()
        assert [j["task_id"] for j in found["jobs"]] == ids
        assert found["next_cursor"] is None
        assert "default" in found["queues"]
        first = (await alice.get("/jobs/list", params={"q": word, "limit": 2})).json()
        assert [j["task_id"] for j in first["jobs"]] == ids[:2]
        rest = (await alice.get("/jobs/list", params={"q": word, "cursor": first["next_cursor"]})).json()
        assert [j["task_id"] for j in rest["jobs"]] == ids[2:]
        assert (rest["next_cursor"], rest["next_offset"]) == (None, None)
        exact = (await alice.get("/jobs/list", params={"q": word, "limit": 3})).json()  # all there are
        assert [j["task_id"] for j in exact["jobs"]] == ids
        assert (exact["next_cursor"], exact["next_offset"]) == (None, None)
        since = {"since": before.isoformat(), "status": "failed", "job_type": "echo", "queue": "default"}
        narrowed = (await alice.get("/jobs/list", params={**since, "q": word})).json()
        assert len(narrowed["jobs"]) == 3
        later = {"since": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(), "q": word}
        assert (await alice.get("/jobs/list", params=later)).json()["jobs"] == []

        counts = (await alice.get("/jobs/counts", params={"q": word})).json()
        assert counts == {
            "counts": {s.value: 3 if s == JobStatus.FAILED else 0 for s in JobStatus},
            "total": 3,
            "approximate": False,
        }
        mine = (await alice.get("/jobs/counts")).json()
        assert mine["counts"]["failed"] >= 3
        assert mine["total"] == sum(mine["counts"].values())

        assert (await bob.get("/jobs/list", params={"q": word})).json()["jobs"] == []
        assert (await bob.get("/jobs/counts", params={"q": word, "owner": "alice"})).status_code == 403
        assert len((await admin.get("/jobs/list", params={"q": word})).json()["jobs"]) == 3
        assert len((await admin.get("/jobs/list", params={"q": word, "owner": "alice"})).json()["jobs"]) == 3
        assert (await admin.get("/jobs/list", params={"q": word, "owner": "bob"})).json()["jobs"] == []


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"since": "yesterday"}, "datetime"),
        ({"q": "x" * 1000}, "at most 200"),
        ({"q": "!!! ?"}, "no searchable word"),
        ({"q": " ".join(f"w{i}" for i in range(20))}, "at most 8 words"),
        ({"cursor": "12~x; DROP"}, "cursor"),
        ({"cursor": "1.5~abc", "offset": "3"}, "either cursor or offset"),
        ({"queue": "nope"}, "unknown queue"),
        ({"job_type": "nope"}, "unknown job type"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "after until"),
        ({"status": "exploded"}, "status"),
    ],
)
async def test_hostile_listing_parameters_answer_422_with_a_reason(
    api: httpx.AsyncClient, params: dict[str, str], reason: str
) -> None:
    for path in ("/jobs/list", "/jobs/counts"):
        if path == "/jobs/counts" and ("cursor" in params or "offset" in params):
            continue
        response = await api.get(path, params=params)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert reason in response.text, response.text


async def _read_stream(
    client: httpx.AsyncClient,
    until: Any,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    started: asyncio.Event | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """(id, data) of each `job` event of /jobs/stream until `until(data)` holds."""
    seen: list[tuple[str, dict[str, Any]]] = []
    async with (
        asyncio.timeout(30),
        aconnect_sse(client, "GET", "/jobs/stream", params=params or {}, headers=headers or {}) as source,
    ):
        assert source.response.status_code == 200
        if started is not None:
            started.set()
        async for sse in source.aiter_sse():
            assert sse.event == "job"
            data = json.loads(sse.data)
            seen.append((sse.id, data))
            if until(data):
                return seen
    raise AssertionError("the stream ended")


async def _last_change_id(stack: Stack) -> str:
    """The newest entry of the change feed now (what a Last-Event-ID replays after)."""
    async with Redis.from_url(stack.redis_url, decode_responses=True) as redis:
        newest = await redis.xrevrange(keys.JOB_CHANGES, count=1)
    return str(newest[0][0]) if newest else "0-0"


async def test_one_stream_carries_every_change_in_the_callers_scope_and_resumes(
    stack: Stack, api_keys: ApiKeys
) -> None:
    """Alice's stream shows her job from queued to succeeded with progress, never Bob's job; resuming with
    Last-Event-ID replays what came after that id; an admin narrows to one owner."""
    async with (
        as_key(stack, api_keys.alice_read) as reader,
        as_key(stack, api_keys.alice_submit) as alice,
        as_key(stack, api_keys.bob_submit) as bob,
        as_key(stack, api_keys.admin) as admin,
    ):
        listening, admin_listening = asyncio.Event(), asyncio.Event()
        mine: dict[str, Any] = {}

        def my_end(data: dict[str, Any]) -> bool:
            job = data["job"]
            return bool(job["task_id"] == mine.get("task_id") and job["status"] == "succeeded")

        def bobs_end(data: dict[str, Any]) -> bool:
            return bool(data["job"]["owner"] == "bob" and data["job"]["status"] == "succeeded")

        reading = asyncio.create_task(_read_stream(reader, my_end, started=listening))
        admin_reading = asyncio.create_task(
            _read_stream(admin, bobs_end, params={"owner": "bob"}, started=admin_listening)
        )
        async with asyncio.timeout(15):
            await listening.wait()
            await admin_listening.wait()
        await asyncio.sleep(0.3)  # the feed's reader is up
        before = await _last_change_id(stack)
        theirs = await submit(bob, {"job_type": "echo", "sleep_s": 0.5})
        mine.update(await submit(alice, {"job_type": "echo", "sleep_s": 0.5}))
        seen = await reading
        admin_seen = await admin_reading

        assert all(data["job"]["owner"] == "alice" for _id, data in seen)
        assert theirs["task_id"] not in {data["job"]["task_id"] for _id, data in seen}
        statuses = [d["job"]["status"] for _i, d in seen if d["job"]["task_id"] == mine["task_id"]]
        assert statuses[0] in {"queued", "running"}  # on a busy machine the feed's reader may start late
        assert statuses[-1] == "succeeded"
        from_start = await _read_stream(reader, my_end, headers={"Last-Event-ID": before})
        first = next(d for _i, d in from_start if d["job"]["task_id"] == mine["task_id"])
        assert first["job"]["status"] == "queued"  # announced when created, not first when a worker starts it
        kinds = {d["kind"] for _i, d in seen if d["job"]["task_id"] == mine["task_id"]}
        assert kinds == {"status", "progress"}
        assert {d["job"]["owner"] for _i, d in admin_seen} == {"bob"}

        ids = [event_id for event_id, _data in seen]
        middle = len(ids) // 2
        replayed = await _read_stream(reader, my_end, headers={"Last-Event-ID": ids[middle]})
        assert [event_id for event_id, _data in replayed] == ids[middle + 1 :]

        bad = await reader.get("/jobs/stream", headers={"Last-Event-ID": "yesterday"})
        assert bad.status_code == 422

        before = await _last_change_id(stack)
        later = await submit(alice, {"job_type": "echo", "delay_s": 600})

        def later_seen(data: dict[str, Any]) -> bool:
            return bool(data["job"]["task_id"] == later["task_id"])

        replayed_later = await _read_stream(reader, later_seen, headers={"Last-Event-ID": before})
        (_id, event), *_ = [e for e in replayed_later if e[1]["job"]["task_id"] == later["task_id"]]
        assert (event["kind"], event["job"]["status"]) == ("status", "scheduled")
        record = await status(alice, later["task_id"])
        for field in ("max_attempts", "trace_id", "owner", "priority", "created_at", "next_attempt_at"):
            assert event["job"][field] == record[field], field  # as the record has it, not a default
        assert not event["job"].get("request")  # events stay small: the request is read from the record
        await alice.post(f"/jobs/{later['task_id']}/cancel")


async def _dying(client: httpx.AsyncClient, message: str, kind: str) -> str:
    body = {"job_type": "echo", "fail_with": message, "fail_kind": kind, "retry": {"max_attempts": 1}}
    job = await submit(client, body)
    return str(job["task_id"])


async def test_dead_letters_grouped_filtered_retried_and_purged_in_bulk(
    stack: Stack, api_keys: ApiKeys
) -> None:
    word = f"dl{uuid.uuid4().hex[:10]}"
    async with as_key(stack, api_keys.admin) as admin, as_key(stack, api_keys.bob_submit) as bob:
        owner = f"dana{uuid.uuid4().hex[:6]}"
        made = [
            (await admin.post("/keys", json={"name": "dana", "owner": owner, "role": role})).json()["key"]
            for role in ("submit", "read")
        ]
        async with as_key(stack, made[0]) as dana, as_key(stack, made[1]) as reader:
            flaky = [await _dying(dana, f"flaky {word} alpha {n}", "transient") for n in range(3)]
            odd = [await _dying(dana, f"odd {word} beta {n}", "unknown") for n in range(2)]
            finals = [await wait_terminal(dana, task_id) for task_id in flaky + odd]
            assert all(job["status"] == "failed" and job["dead"] for job in finals), finals
            odd_type = finals[-1]["error"]["type"]
            assert odd_type != "EchoFlaky"

            summary = (await reader.get("/jobs/dead/summary")).json()
            assert summary == {
                "groups": [
                    {"error_type": "EchoFlaky", "count": 3, "job_types": {"echo": 3}},
                    {"error_type": odd_type, "count": 2, "job_types": {"echo": 2}},
                ],
                "total": 5,
            }
            assert (await reader.get("/jobs/dead/summary", params={"q": "beta"})).json()["total"] == 2
            listed = (await reader.get("/jobs/dead", params={"error_type": "EchoFlaky"})).json()
            assert {letter["job"]["task_id"] for letter in listed} == set(flaky)
            # newest first by when each died (the order their retries ran out in, which load decides)
            dead_at = [letter["entry_id"] for letter in listed]
            assert dead_at == sorted(dead_at, key=_entry_order, reverse=True)
            searched = (await reader.get("/jobs/dead", params={"q": f"{word} bet"})).json()
            assert {letter["job"]["task_id"] for letter in searched} == set(odd)
            assert (await reader.get("/jobs/dead", params={"error_type": "NoSuchError"})).json() == []
            assert (await bob.get("/jobs/dead/summary", params={"q": word})).json()["total"] == 0

            by_filter = {"filter": {"q": word}}
            assert (await reader.post("/jobs/dead/retry", json=by_filter)).status_code == 403
            assert (await bob.post("/jobs/dead/retry", json=by_filter)).json() == {"matched": 0, "retried": 0}
            preview = {"filter": {"error_type": "EchoFlaky"}, "dry_run": True}
            assert (await dana.post("/jobs/dead/retry", json=preview)).json() == {"matched": 3, "retried": 0}
            assert (await reader.get("/jobs/dead/summary")).json()["total"] == 5
            one = await dana.post("/jobs/dead/retry", json={"task_ids": [flaky[0], "not-a-job"]})
            assert one.json() == {"matched": 1, "retried": 1}
            again = await wait_terminal(dana, flaky[0])
            assert [entry["outcome"] for entry in again["attempt_log"]] == ["failed", "failed"]

            assert (await dana.post("/jobs/dead/purge", json=by_filter)).status_code == 403
            purge = {"filter": {"owner": owner, "q": word, "error_type": odd_type}}
            dry = await admin.post("/jobs/dead/purge", json={**purge, "dry_run": True})
            assert dry.json() == {"matched": 2, "purged": 0}
            assert (await admin.post("/jobs/dead/purge", json=purge)).json() == {"matched": 2, "purged": 2}
            assert (await dana.get(f"/jobs/{odd[0]}/status")).status_code == 404
            assert (await dana.get("/jobs/list", params={"q": "beta"})).json()["jobs"] == []
            assert (await reader.get("/jobs/dead/summary")).json()["total"] == 3

            for bad in (
                {"task_ids": [flaky[0]], "filter": {}},
                {},
                {"task_ids": ["x"] * 1001},
                {"filter": {"q": "!!"}},
                {"filter": {"job_type": "nope"}},
                {"filter": {"surprise": 1}},
            ):
                answer = await dana.post("/jobs/dead/retry", json=bad)
                assert answer.status_code == 422, (bad, answer.text)
            final = {"filter": {"owner": owner}}
            assert (await admin.post("/jobs/dead/purge", json=final)).json() == {"matched": 3, "purged": 3}


async def test_job_types_list_each_types_queue_schema_and_attempts(stack: Stack, api_keys: ApiKeys) -> None:
    async with as_key(stack, api_keys.alice_read) as reader:
        answer = await reader.get("/jobs/types")
    assert answer.status_code == 200
    types = {entry["name"]: entry for entry in answer.json()}
    assert {"echo", "video_download", "video_info", "thumbnail"} <= set(types)
    echo = types["echo"]
    assert (echo["queue"], echo["max_attempts"]) == ("default", 3)
    assert echo["description"].startswith("Canary job")
    assert {"payload", "sleep_s", "job_type"} <= set(echo["schema"]["properties"])
    assert types["video_download"]["queue"] == "video_downloads"
    assert "url" in types["video_download"]["schema"]["required"]


async def test_janitor_samples_throughput_and_wait_and_the_attempts_timeline(
    index_redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """Jobs started and ended through the store's scripts feed the queue samples (median wait, then
    throughput) and their own attempts timeline."""
    url = redis_url.rsplit("/", 1)[0] + f"/{INDEX_DB}"
    settings = JanitorSettings(redis_url=url, media_root=tmp_path)
    store = JobStore(index_redis, settings)
    spec = QUEUES[Queue.DEFAULT]
    await ensure_groups(index_redis, [spec])
    jobs = [_record(i) for i in (1, 2)]  # echo jobs on the default queue
    await _create_all(store, jobs)
    runs = []
    for job in jobs:
        await index_redis.xadd(spec.stream, {"task": job.task_id})
        reply = cast("list[Any]", await index_redis.xreadgroup(spec.group, "w1", {spec.stream: ">"}, count=1))
        delivery = Delivery(spec.queue, spec.group, "w1", str(reply[0][1][0][0]))
        started = await store.start(job.task_id, delivery, run_id=f"run-{job.task_id}")
        assert started.applied
        runs.append(delivery)
    first_run = f"run-{jobs[0].task_id}"
    await store.finish(jobs[0].task_id, JobStatus.SUCCEEDED, delivery=runs[0], run_id=first_run)

    hk = Housekeeping(store, settings)
    await queue_stats(hk)
    await asyncio.sleep(0.2)
    await store.finish(
        jobs[1].task_id,
        JobStatus.FAILED,
        delivery=runs[1],
        run_id=f"run-{jobs[1].task_id}",
        error=ErrorInfo(type="Broken", message="it broke"),
    )
    await queue_stats(hk)
    first, second = await recent(index_redis, spec.queue, 60)
    assert (first.finished, first.throughput_per_min) == (1, None)
    assert first.wait_p50_s is not None
    assert first.wait_p50_s >= 0
    assert second.finished == 2
    assert second.throughput_per_min is not None
    assert second.throughput_per_min > 0
    assert second.wait_p50_s is None  # nothing started since the first sample
    assert await index_redis.pttl(keys.queue_samples(spec.queue)) > 0

    ok, broken = [await store.get(job.task_id) for job in jobs]
    (entry,) = ok.attempt_log
    assert (entry.attempt, entry.worker, entry.outcome, entry.error) == (1, "w1", "succeeded", None)
    assert entry.queued_at is not None
    assert entry.started_at is not None
    assert entry.finished_at is not None
    assert entry.queued_at <= entry.started_at <= entry.finished_at
    assert entry.run_s is not None
    assert entry.wait_s is not None
    (failed,) = broken.attempt_log
    assert failed.outcome == "failed"
    assert failed.error == ErrorInfo(type="Broken", message="it broke")


async def test_admin_queues_and_workers(stack: Stack, api_keys: ApiKeys) -> None:
    async with as_key(stack, api_keys.admin) as admin, as_key(stack, api_keys.alice_submit) as alice:
        assert (await alice.get("/admin/queues")).status_code == 403
        assert (await alice.get("/admin/workers")).status_code == 403
        job = await submit(admin, {"job_type": "echo", "sleep_s": 3})
        deadline = time.monotonic() + 20
        while True:
            queues = {q["queue"]: q for q in (await admin.get("/admin/queues")).json()}
            workers = (await admin.get("/admin/workers")).json()
            running = {t for w in workers for t in w["running"]}
            if queues["default"]["samples"] and job["task_id"] in running:
                break
            assert time.monotonic() < deadline, (queues, workers)
            await asyncio.sleep(0.3)
        assert {"default", "video_downloads", "metadata"} <= set(queues)
        sample = queues["default"]["samples"][-1]
        assert {"at", "length", "lag", "pending", "throughput_per_min", "wait_p50_s"} <= set(sample)
        assert {"length", "lag", "pending", "consumers", "oldest_waiting_s"} <= set(queues["default"])
        (runner,) = [w for w in workers if job["task_id"] in w["running"]]
        assert (runner["service"], runner["queue"], runner["alive"]) == ("janitor", "default", True)
        assert runner["pid"] > 0
        assert runner["last_heartbeat"]
        assert {w["service"] for w in workers} >= {"janitor", "downloader", "metadata", "imaging"}
        await admin.post(f"/jobs/{job['task_id']}/cancel")


async def test_the_stream_counts_against_the_per_key_stream_cap(stack: Stack, api_keys: ApiKeys) -> None:
    """/jobs/stream takes one of the key's event streams (20 by default): the 21st answers 429 before it
    starts, and a closed stream gives its slot back."""
    async with as_key(stack, api_keys.admin) as admin:
        created = await admin.post("/keys", json={"name": "streams", "owner": "streamer", "role": "read"})
        key = created.json()["key"]
    async with as_key(stack, key) as client, contextlib.AsyncExitStack() as streams:
        opened = []
        for _ in range(20):
            response = await streams.enter_async_context(client.stream("GET", "/jobs/stream"))
            assert response.status_code == 200
            opened.append(response)
        refused = await client.get("/jobs/stream")
        assert refused.status_code == 429
        assert "per API key" in refused.text
        await opened[0].aclose()
        await asyncio.sleep(0.5)  # the gateway notices the closed connection
        async with client.stream("GET", "/jobs/stream") as again:
            assert again.status_code == 200


async def test_a_retry_by_filter_takes_the_oldest_dead_letters_first(
    index_redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """1,003 dead letters: one retry by filter takes the oldest 1,000 (a retried job that fails again is the
    newest letter then, so calling again goes on with the rest instead of the same 1,000)."""
    settings = CommonSettings(redis_url=redis_url.rsplit("/", 1)[0] + f"/{INDEX_DB}", media_root=tmp_path)
    admin = ApiKey(id="a", name="ops", owner="ops", role=Role.ADMIN, created_at=datetime.now(UTC))
    async with JobClient(settings) as client:
        await ensure_groups(client.redis)
        ids = [f"{n:032x}" for n in range(1003)]  # oldest first
        for task_id in ids:
            await bury(
                client,
                task_id,
                owner="dana",
                request={"job_type": "echo"},
                error=ErrorInfo(type="EchoFailed", message="broken"),
            )
        action = DeadAction(filter=DeadSelection(owner="dana"))
        assert await retry_dead(client, admin, action) == RetryOutcome(matched=1003, retried=1000)
        left = [(await client.get(task_id)).status for task_id in ids[-4:]]
    assert left == [JobStatus.QUEUED, JobStatus.FAILED, JobStatus.FAILED, JobStatus.FAILED]
