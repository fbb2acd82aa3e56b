"""A playlist's progress and items while its entries run: (ended + the running entries' fractions) / total,
bytes and speeds summed, recounted by the entries' own progress reports at a bounded rate; each unfinished
entry's item says how it stands (queued, running with its progress, retrying). Against a real Redis, as a
worker would drive the jobs, and end to end through the gateway."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from faststream.redis.parser.binary import BinaryMessageFormatV1
from redis.asyncio import Redis

from jobcommon import (
    QUEUES,
    CommonSettings,
    ErrorInfo,
    Job,
    JobClient,
    JobStatus,
    Progress,
    VideoDownloadRequest,
    keys,
    spawn_children,
)
from jobcommon.children import AwaitChildren
from jobcommon.context import JobContext
from jobcommon.items import ItemRecord
from jobcommon.priorities import Priority
from jobcommon.progress import ProgressReporter
from jobcommon.queues import Queue, QueueSpec
from jobcommon.store import Delivery, JobStore
from tests.jobs import status, submit, wait_for, wait_terminal
from tests.support.db_client import client_on_db
from tests.support.httpserver import MediaServer

PARENTS = QUEUES[Queue.DEFAULT]
ENTRIES = QUEUES[Queue.VIDEO_DOWNLOADS]
RECOUNT_S = 0.5
"""The least time between two recounts of a small parent's progress by its entries' reports (lib_parent)."""


@pytest.fixture
async def client(redis_url: str, settings: CommonSettings) -> AsyncIterator[JobClient]:
    async with client_on_db(redis_url, settings, 7, [PARENTS, ENTRIES]) as jobs:
        yield jobs


async def _read(
    store: JobStore, spec: QueueSpec, consumer: str, priority: Priority = Priority.NORMAL
) -> tuple[Delivery, str] | None:
    """Read one message of a lane as a worker would: its delivery and the task id in its headers."""
    raw = Redis.from_url(store.settings.redis_url)  # FastStream's binary format: read as bytes
    stream = spec.stream_of(priority)
    try:
        reply = cast("list[Any]", await raw.xreadgroup(spec.group, consumer, {stream: ">"}, count=1))
    finally:
        await raw.aclose()
    if not reply:
        return None
    entry_id, fields = reply[0][1][0]
    _body, headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
    delivery = Delivery(spec.queue, spec.group, consumer, entry_id.decode(), priority)
    return delivery, str(headers["correlation_id"])


def _entry(n: int) -> VideoDownloadRequest:
    smuggled = "#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22a1%22%7D" if n == 0 else ""
    return VideoDownloadRequest(url=f"https://media.example/v/{n}.mp4{smuggled}", allow_duplicate=True)


async def _playlist(client: JobClient, n: int, concurrency: int) -> tuple[Job, list[str]]:
    """A parent that spawned `n` download entries as a playlist's handler does, and handed over to them."""
    store = client.store
    parent = (await client.submit({"job_type": "echo"})).job
    read = await _read(store, PARENTS, "parent-worker")
    assert read is not None
    delivery = read[0]
    run_id = uuid.uuid4().hex
    started = await store.start(parent.task_id, delivery, run_id)
    assert started.job is not None
    ctx = JobContext(
        job=started.job,
        output_dir=Path("/nonexistent"),
        temp_dir=Path("/nonexistent"),
        reporter=ProgressReporter(store, parent.task_id, 0.1, run_id),
    )
    handed: AwaitChildren = await spawn_children(ctx, [_entry(i) for i in range(n)], concurrency=concurrency)
    assert await store.await_children(
        parent.task_id,
        delivery=delivery,
        run_id=run_id,
        children=handed.children,
        children_stream=handed.stream,
        concurrency=handed.concurrency,
    )
    return parent, handed.children


class Entry:
    """One entry's run, as a download worker drives it."""

    def __init__(self, store: JobStore, delivery: Delivery, task_id: str, run_id: str) -> None:
        self.store = store
        self.delivery = delivery
        self.task_id = task_id
        self.run_id = run_id

    @classmethod
    async def start(cls, store: JobStore) -> Entry:
        read = await _read(store, ENTRIES, "entry-worker", Priority.LOW)  # one step below the playlist
        assert read is not None
        delivery, task_id = read
        run_id = uuid.uuid4().hex
        assert (await store.start(task_id, delivery, run_id)).applied
        return cls(store, delivery, task_id, run_id)

    async def report(
        self, percent: float | None, downloaded: int | None = None, speed: float | None = None
    ) -> None:
        progress = Progress(percent=percent, message="downloading", downloaded_bytes=downloaded, speed=speed)
        assert (await self.store.report_progress(self.task_id, progress, run_id=self.run_id)).applied

    async def succeed(self, size: int) -> None:
        result = {"path": f"{self.task_id}/media.mp4", "size": size}
        done = await self.store.finish(
            self.task_id, JobStatus.SUCCEEDED, delivery=self.delivery, run_id=self.run_id, result=result
        )
        assert done.applied

    async def fail(self) -> None:
        error = ErrorInfo(type="Boom", message="entry failed")
        done = await self.store.finish(
            self.task_id, JobStatus.FAILED, delivery=self.delivery, run_id=self.run_id, error=error
        )
        assert done.applied


async def _reporting_until(
    store: JobStore,
    parent_id: str,
    report: Callable[[], Awaitable[None]],
    ready: Callable[[Progress], bool],
    timeout: float = 15.0,
) -> Progress:
    """Entries report as they would while downloading (a few times a second) until the parent's progress
    says `ready` (the parent is recounted at most every RECOUNT_S, by a report)."""
    deadline = time.monotonic() + timeout
    while True:
        await report()
        progress = (await store.get(parent_id)).progress
        if ready(progress):
            return progress
        if time.monotonic() > deadline:
            raise AssertionError(f"the parent's progress never got there: {progress}")
        await asyncio.sleep(0.1)


async def _items(store: JobStore, parent_id: str, n: int) -> list[ItemRecord]:
    found = await store.items(parent_id, 0, n)
    assert all(item is not None for item in found), found
    return [ItemRecord.model_validate(item) for item in found]


async def test_running_entries_move_their_playlists_progress_and_items(client: JobClient) -> None:
    store = client.store
    parent, ids = await _playlist(client, n=4, concurrency=2)

    # before any entry starts: every item is there, queued, with its plain URL; the parent at 0 %
    items = await _items(store, parent.task_id, 4)
    assert [(i.status, i.task_id, i.attempts) for i in items] == [("queued", t, 0) for t in ids]
    assert [i.item for i in items] == [f"https://media.example/v/{n}.mp4" for n in range(4)]
    assert (await store.get(parent.task_id)).progress.percent == 0

    first, second = await Entry.start(store), await Entry.start(store)
    assert [first.task_id, second.task_id] == ids[:2]

    async def both() -> None:
        await first.report(50.0, downloaded=500, speed=100.0)
        await second.report(25.0, downloaded=250, speed=50.0)

    progress = await _reporting_until(store, parent.task_id, both, lambda p: p.percent == 18.7)
    # (0 ended + 0.5 + 0.25) / 4 = 18.75 %, floored to a tenth
    assert progress.message == "0 of 4 done, 0 failed, 2 running"
    assert (progress.items_done, progress.items_total) == (0, 4)
    assert (progress.downloaded_bytes, progress.speed) == (750, 150.0)
    items = await _items(store, parent.task_id, 4)
    assert [i.status for i in items] == ["running", "running", "queued", "queued"]
    assert items[0].progress is not None
    assert (items[0].progress.percent, items[0].progress.downloaded_bytes) == (50.0, 500)
    assert items[1].progress is not None
    assert items[1].progress.percent == 25.0
    assert (items[0].attempts, items[0].item) == (1, "https://media.example/v/0.mp4")

    # an end recounts at once: (1 ended + 0.25) / 4; the ended entry's bytes are its result's size
    await first.succeed(size=1000)
    progress = (await store.get(parent.task_id)).progress
    assert progress.percent == 31.2
    assert progress.message == "1 of 4 done, 0 failed, 1 running"
    assert (progress.downloaded_bytes, progress.speed) == (1250, 50.0)
    items = await _items(store, parent.task_id, 4)
    assert [i.status for i in items] == ["succeeded", "running", "queued", "queued"]
    assert items[0].progress is None
    assert items[0].result == {"path": f"{ids[0]}/media.mp4", "size": 1000}

    # the next entry, released by that end, starts and reports; a running entry's 100 % is not the end
    third = await Entry.start(store)
    assert third.task_id == ids[2]

    async def two() -> None:
        await second.report(100.0, downloaded=1000)
        await third.report(100.0, downloaded=1000)

    progress = await _reporting_until(store, parent.task_id, two, lambda p: "2 running" in p.message)
    assert progress.percent == 75.0
    assert progress.speed is None  # no running entry says how fast it goes
    await second.succeed(size=1000)
    await third.fail()
    last = await Entry.start(store)

    async def halfway() -> None:
        await last.report(50.0)

    progress = await _reporting_until(store, parent.task_id, halfway, lambda p: p.percent == 87.5)
    assert progress.message == "3 of 4 done, 1 failed, 1 running"
    await last.succeed(size=1000)
    final = await store.get(parent.task_id)
    assert final.status == JobStatus.SUCCEEDED
    assert final.progress.percent == 100.0
    assert final.progress.message == "4 of 4 done, 1 failed"
    assert (final.progress.downloaded_bytes, final.progress.speed) == (3000, None)
    assert final.result == {"total": 4, "succeeded": 3, "failed": 1, "cancelled": 0, "bytes": 3000}
    items = await _items(store, parent.task_id, 4)
    assert [i.status for i in items] == ["succeeded", "succeeded", "failed", "succeeded"]


async def test_entries_reports_recount_their_parent_at_a_bounded_rate(client: JobClient) -> None:
    """However often its entries report, a parent's progress is recounted and announced at most once per
    RECOUNT_S (its record, listing every entry, goes whole to every follower)."""
    store = client.store
    parent, _ = await _playlist(client, n=3, concurrency=3)
    entries = [await Entry.start(store) for _ in range(3)]
    pubsub = store.redis.pubsub()
    await pubsub.subscribe(keys.job_events(parent.task_id))
    try:
        began = time.monotonic()
        reports = 0
        while time.monotonic() - began < 1.6:
            for n, entry in enumerate(entries):
                await entry.report(min(100.0, reports / 3 + n))
                reports += 1
        elapsed = time.monotonic() - began
        seen: list[dict[str, Any]] = []
        quiet_until = time.monotonic() + 1.0  # what was published is read; then a second without any
        while time.monotonic() < quiet_until:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                seen.append(json.loads(message["data"]))
                quiet_until = time.monotonic() + 1.0
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert reports > 30  # the entries reported far more often than the parent may be recounted
    recounts = [event for event in seen if event["kind"] == "progress"]
    assert 2 <= len(recounts) <= elapsed / RECOUNT_S + 1, (len(recounts), elapsed)
    stamps = [float(json.loads(event["job"]["progress"])["updated_at"]) for event in recounts]
    assert all(b - a >= RECOUNT_S - 0.01 for a, b in itertools.pairwise(stamps)), stamps
    assert "3 running" in json.loads(recounts[-1]["job"]["progress"])["message"]


async def test_an_entry_waiting_to_retry_is_not_counted_running(client: JobClient) -> None:
    store = client.store
    parent, ids = await _playlist(client, n=2, concurrency=2)
    first, second = await Entry.start(store), await Entry.start(store)
    await _reporting_until(store, parent.task_id, lambda: first.report(40.0), lambda p: p.percent == 20.0)
    # its attempt fails and it waits for the next one: it no longer counts as running, nor its 40 %
    assert await store.retry_later(first.task_id, delivery=first.delivery, run_id=first.run_id, delay_s=60)
    progress = await _reporting_until(
        store, parent.task_id, lambda: second.report(10.0), lambda p: p.percent == 5.0
    )
    assert progress.message == "0 of 2 done, 0 failed, 1 running, 1 waiting to retry"
    items = await _items(store, parent.task_id, 2)
    assert [i.status for i in items] == ["retrying", "running"]
    assert items[0].progress is None
    assert ids == [first.task_id, second.task_id]


async def test_an_ended_entry_retried_while_its_parent_waits_stays_counted_ended(client: JobClient) -> None:
    """A failed entry retried before its siblings end: it was counted ended, and stays so until it ends
    again (then it corrects the counts): its new run's reports neither count it running nor hide its item."""
    store = client.store
    parent, ids = await _playlist(client, n=2, concurrency=1)
    first = await Entry.start(store)
    await first.fail()
    second = await Entry.start(store)  # released by that end
    await client.retry(ids[0])
    again = await Entry.start(store)
    assert again.task_id == ids[0]

    async def both() -> None:
        await again.report(30.0)
        await second.report(50.0)

    progress = await _reporting_until(store, parent.task_id, both, lambda p: p.percent == 75.0)
    assert progress.message == "1 of 2 done, 1 failed, 1 running"
    items = await _items(store, parent.task_id, 2)
    assert [i.status for i in items] == ["failed", "running"]
    await again.succeed(size=10)
    await second.succeed(size=20)
    final = await store.get(parent.task_id)
    assert final.result == {"total": 2, "succeeded": 2, "failed": 0, "cancelled": 0, "bytes": 30}
    assert final.progress.message == "2 of 2 done, 0 failed"


async def test_a_playlist_shows_its_entries_progress_while_they_download(
    api: httpx.AsyncClient, media_server: MediaServer
) -> None:
    """End to end: the playlist's percent moves before any entry has ended, its message says how many run,
    and its items say which entry runs (with its percent) and which waits."""
    parent = await submit(
        api, {"job_type": "playlist_download", "url": media_server.url("slowfeed.rss"), "concurrency": 2}
    )
    task_id = parent["task_id"]
    moving = await wait_for(
        api,
        task_id,
        lambda j: (
            (j["progress"].get("items_done") or 0) == 0
            and (j["progress"].get("percent") or 0) > 0
            and "2 running" in j["progress"]["message"]
        ),
        timeout=60,
    )
    assert moving["status"] == "running"
    assert (moving["progress"].get("downloaded_bytes") or 0) > 0
    answer = await api.get(f"/jobs/{task_id}/items")
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert [i["status"] for i in items] == ["running", "running", "queued", "queued"]
    assert all(i["progress"]["message"] for i in items[:2])  # "downloading", or a stage before it
    assert any((i["progress"].get("percent") or 0) > 0 for i in items[:2])
    assert [i["task_id"] for i in items] == moving["children"]
    assert (await api.post(f"/jobs/{task_id}/cancel")).status_code == 202
    final = await wait_terminal(api, task_id, timeout=20)
    assert final["status"] == "cancelled"
    assert final["progress"]["message"] == "4 of 4 done, 0 failed, 4 cancelled"
    ended = (await api.get(f"/jobs/{task_id}/items")).json()["items"]
    assert [i["status"] for i in ended] == ["cancelled"] * 4
    assert all("progress" not in i or i["progress"] is None for i in ended)
    assert (await status(api, task_id))["progress"].get("speed") is None
