"""Priorities (issue 15): each queue has a high, a normal and a low lane; a worker's free slot takes from them
by smooth weighted round robin (6/3/1), so higher lanes go first without starving lower ones, and a single
download overtakes the entries of a playlist submitted before it."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from redis.asyncio import Redis

from jobcommon import CommonSettings, JobClient, JobStatus, Priority, keys
from jobcommon.priorities import WEIGHTS, LaneOrder, lowered
from jobcommon.queues import QUEUES, Queue
from jobcommon.store import Delivery
from tests.cluster import Cluster
from tests.conftest import rss_feed
from tests.jobs import submit, wait_terminal
from tests.support.httpserver import MediaServer

ECHO = QUEUES[Queue.DEFAULT]


def test_lane_order_is_weighted_round_robin() -> None:
    order = LaneOrder()
    firsts = [order.next()[0] for _ in range(10)]
    assert "".join(p.value[0] for p in firsts) == "hnhhnhlhnh"  # as the module documents
    counts = Counter(order.next()[0] for _ in range(1000))
    assert counts == {p: 100 * w for p, w in WEIGHTS.items()}
    for _ in range(10):  # after the first, the others by weight
        rest = order.next()[1:]
        assert rest == sorted(rest, key=lambda p: -WEIGHTS[p])


def test_entries_run_a_step_below_their_parent() -> None:
    assert [lowered(p) for p in Priority] == [Priority.NORMAL, Priority.LOW, Priority.LOW]


async def test_each_priority_has_its_lane_and_job_types_their_default(redis: Redis, settings: object) -> None:
    async with JobClient(settings) as client:  # type: ignore[arg-type]
        made = {
            name: (await client.submit(request)).job
            for name, request in {
                "echo": {"job_type": "echo", "delay_s": 3600},  # scheduled: stays off the stream
                "echo_high": {"job_type": "echo", "priority": "high", "sleep_s": 0.01, "delay_s": 3600},
                "info": {"job_type": "video_info", "url": "http://127.0.0.1:9/a", "delay_s": 3600},
                "enrich": {"job_type": "metadata_enrich", "items": ["http://127.0.0.1:9/b"], "delay_s": 3600},
                "enrich_high": {
                    "job_type": "metadata_enrich",
                    "items": ["http://127.0.0.1:9/c"],
                    "priority": "high",
                    "delay_s": 3600,
                },
            }.items()
        }
        priorities = {name: job.priority for name, job in made.items()}
        assert priorities == {
            "echo": Priority.NORMAL,
            "echo_high": Priority.HIGH,
            "info": Priority.HIGH,
            "enrich": Priority.LOW,
            "enrich_high": Priority.HIGH,
        }
        assert (await client.get(made["enrich"].task_id)).priority == Priority.LOW  # kept on the record
        for job in made.values():
            await client.cancel(job.task_id)
    assert ECHO.lanes == {
        Priority.HIGH: "mj:queue:default:high",
        Priority.NORMAL: "mj:queue:default",
        Priority.LOW: "mj:queue:default:low",
    }


async def test_a_delayed_job_is_promoted_onto_its_own_lane(
    unrun_db_url: str, unrun_redis: Redis, media_root: Path
) -> None:
    """promote.lua names the lane itself: it must name it as keys.stream does (on a database no service
    reads, so nothing else promotes or consumes)."""
    settings = CommonSettings(redis_url=unrun_db_url, media_root=media_root)
    async with JobClient(settings) as client:
        low = (await client.submit({"job_type": "echo", "priority": "low", "delay_s": 0.2})).job
        high = (await client.submit({"job_type": "echo", "priority": "high", "delay_s": 0.2})).job
        normal = (await client.submit({"job_type": "echo", "delay_s": 0.2})).job
        await asyncio.sleep(0.3)
        assert await client.store.promote_due() == 3
        for job, priority in ((low, Priority.LOW), (high, Priority.HIGH), (normal, Priority.NORMAL)):
            assert await unrun_redis.xlen(keys.stream(ECHO.queue, priority)) == 1, priority
            assert (await client.get(job.task_id)).status == JobStatus.QUEUED


async def test_a_free_slot_takes_high_first_without_starving_low(cluster: Cluster) -> None:
    """A backlog of 10 low, 10 normal and 3 high echo jobs, submitted before the worker starts, run one at a
    time: the high ones go first (all three among the first five), and low work is not left to the end."""
    async with JobClient(cluster.settings) as client:
        ids: dict[str, Priority] = {}
        for priority, count in ((Priority.LOW, 10), (Priority.NORMAL, 10), (Priority.HIGH, 3)):
            for _ in range(count):
                made = await client.submit({"job_type": "echo", "priority": priority.value})
                ids[made.job.task_id] = priority
        cluster.start("janitor", CONCURRENCY="1")
        done = [await client.wait(task_id, timeout=60) for task_id in ids]
    assert all(job.status == JobStatus.SUCCEEDED for job in done), cluster.logs()
    order = [ids[job.task_id] for job in sorted(done, key=lambda j: j.started_at or j.created_at)]
    assert Counter(order[:5])[Priority.HIGH] == 3, order
    assert Priority.LOW in order[:10], order  # one read in ten tries low first
    assert order[-1] is Priority.LOW  # ... yet most low work waits for the rest


@pytest.mark.usefixtures("media_server")
async def test_a_single_download_overtakes_a_playlists_entries(
    cluster: Cluster, media_server: MediaServer, tmp_path: Path
) -> None:
    feed = media_server.root / "priorities.rss"
    feed.write_text(rss_feed(*[f"{{BASE}}/slow/big.mp4?entry={i}" for i in range(5)]))
    cluster.start("downloader", CONCURRENCY="1")
    async with JobClient(cluster.settings) as client:
        parent = (
            await client.submit(
                {"job_type": "playlist_download", "url": media_server.url("priorities.rss"), "concurrency": 5}
            )
        ).job
        children: list[str] = []
        for _ in range(300):  # until its entries are queued and the first is running
            record = await client.get(parent.task_id)
            children = record.children
            if children and (await client.get(children[0])).status == JobStatus.RUNNING:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(cluster.logs())
        entries = [await client.get(task_id) for task_id in children]
        assert {e.priority for e in entries} == {Priority.LOW}  # one step below the playlist
        single = (
            await client.submit({"job_type": "video_download", "url": media_server.url("slow/big.mp4")})
        ).job
        assert single.priority == Priority.NORMAL
        finished = await client.wait(single.task_id, timeout=60)
        assert finished.status == JobStatus.SUCCEEDED, cluster.logs()
        started_before = [
            e.task_id
            for e in [await client.get(task_id) for task_id in children]
            if e.started_at is not None and finished.started_at and e.started_at < finished.started_at
        ]
        # the running entry, and at most the one the worker had read ahead while it waited
        assert len(started_before) <= 2, started_before
        await client.cancel(parent.task_id)
        assert (await client.wait(parent.task_id, timeout=60)).status == JobStatus.CANCELLED


async def test_priority_is_validated_and_shown(api: httpx.AsyncClient) -> None:
    refused = await api.post("/jobs/submit", json={"job_type": "echo", "priority": "urgent"})
    assert refused.status_code == 422
    assert "priority" in refused.text, refused.text
    assert "'high', 'normal' or 'low'" in refused.text, refused.text
    job = await submit(api, {"job_type": "echo", "priority": "low"})
    assert job["priority"] == "low"
    done = await wait_terminal(api, job["task_id"])
    assert (done["status"], done["priority"]) == ("succeeded", "low")
    queues = {q["queue"]: q for q in (await api.get("/admin/queues")).json()}
    assert set(queues["default"]["lag_by_priority"]) == {"high", "normal", "low"}


async def test_a_delivery_is_handed_back_to_its_own_lane(
    unrun_db_url: str, unrun_redis: Redis, media_root: Path
) -> None:
    """Entry ids are per stream: a high lane's entry may share its id with a normal one. Handing back the
    high one (a stopping worker) requeues it on the high lane and leaves the normal entry alone."""
    settings = CommonSettings(redis_url=unrun_db_url, media_root=media_root)
    high_lane, normal_lane = ECHO.stream_of(Priority.HIGH), ECHO.stream_of(Priority.NORMAL)
    async with JobClient(settings) as client:
        job = (await client.submit({"job_type": "echo", "priority": "high"})).job
        raw = Redis.from_url(unrun_db_url)  # the message is binary
        reply = cast("list[Any]", await raw.xreadgroup(ECHO.group, "w1", {high_lane: ">"}, count=1))
        await raw.aclose()
        entry_id = reply[0][1][0][0].decode()
        await unrun_redis.xadd(normal_lane, {"other": "job"}, id=entry_id)  # the same id, another lane
        delivery = Delivery(ECHO.queue, ECHO.group, "w1", entry_id, Priority.HIGH)
        assert (await client.store.start(job.task_id, delivery, "run-1")).applied
        outcome = await client.store.release(ECHO.queue, ECHO.group, [entry_id], delivery.priority)
        assert (outcome.requeued, outcome.dropped) == (1, 0)
        assert (await client.get(job.task_id)).status == JobStatus.QUEUED
        assert await unrun_redis.xlen(high_lane) == 1
        assert await unrun_redis.xrange(normal_lane) == [(entry_id, {"other": "job"})]
        assert (await unrun_redis.xpending(high_lane, ECHO.group))["pending"] == 0
