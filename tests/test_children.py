"""Parents made of child jobs, against a real Redis: held children released N at a time, progress and the
parent's end written by the children's own transitions, cancel cascading."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from faststream.redis.parser.binary import BinaryMessageFormatV1
from redis.asyncio import Redis

from jobcommon import QUEUES, CommonSettings, EchoRequest, ErrorInfo, Job, JobClient, JobStatus, keys
from jobcommon.broker import ensure_groups
from jobcommon.job_index import JobQuery
from jobcommon.job_types import JOB_TYPES
from jobcommon.queues import Queue
from jobcommon.store import Delivery, JobStore
from jobcommon.submission import child_id, discard_staged_follow_ups, stage_follow_ups, submit_job

SPEC = QUEUES[Queue.DEFAULT]


@pytest.fixture
async def client(redis_url: str, settings: CommonSettings) -> AsyncIterator[JobClient]:
    url = redis_url.rsplit("/", 1)[0] + "/6"
    raw = Redis.from_url(url)
    await raw.flushdb()
    async with JobClient(settings.model_copy(update={"redis_url": url})) as jobs:
        await ensure_groups(jobs.redis, [SPEC])
        yield jobs
    await raw.flushdb()
    await raw.aclose()


async def _read(store: JobStore, consumer: str) -> tuple[Delivery, str] | None:
    """Read one message as a worker would: its delivery and the task id in its headers."""
    raw = Redis.from_url(store.settings.redis_url)  # FastStream's binary format: read as bytes
    try:
        reply = cast("list[Any]", await raw.xreadgroup(SPEC.group, consumer, {SPEC.stream: ">"}, count=1))
    finally:
        await raw.aclose()
    if not reply:
        return None
    entry_id, fields = reply[0][1][0]
    _body, headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
    return Delivery(SPEC.queue, SPEC.group, consumer, entry_id.decode()), str(headers["correlation_id"])


async def _parent_with_children(client: JobClient, n: int, concurrency: int) -> tuple[Job, list[str]]:
    store = client.store
    parent = (await client.submit({"job_type": "echo"})).job
    read = await _read(store, "parent-worker")
    assert read is not None
    delivery = read[0]
    run_id = uuid.uuid4().hex
    assert (await store.start(parent.task_id, delivery, run_id)).applied
    ids = []
    for i in range(n):
        task_id = child_id(parent.task_id, i)
        await submit_job(
            store,
            EchoRequest(payload={"i": i}),
            task_id=task_id,
            parent_id=parent.task_id,
            child_index=i,
            stream=keys.held(parent.task_id),
        )
        ids.append(task_id)
    handed = await store.await_children(
        parent.task_id,
        delivery=delivery,
        run_id=run_id,
        children=ids,
        children_stream=SPEC.stream,
        concurrency=concurrency,
    )
    assert handed
    return parent, ids


async def _run_one(store: JobStore, *, fail: bool = False) -> str | None:
    read = await _read(store, "child-worker")
    if read is None:
        return None
    delivery, task_id = read
    run_id = uuid.uuid4().hex
    assert (await store.start(task_id, delivery, run_id)).applied
    if fail:
        await store.finish(
            task_id,
            JobStatus.FAILED,
            delivery=delivery,
            run_id=run_id,
            error=ErrorInfo(type="Boom", message="entry failed"),
        )
    else:
        await store.finish(
            task_id,
            JobStatus.SUCCEEDED,
            delivery=delivery,
            run_id=run_id,
            result={"path": f"{task_id}/media.mp4", "size": 1000},
        )
    return task_id


async def test_children_are_released_n_at_a_time_and_finish_the_parent(client: JobClient) -> None:
    store = client.store
    parent, ids = await _parent_with_children(client, n=5, concurrency=2)
    waiting = await store.get(parent.task_id)
    assert waiting.status == JobStatus.RUNNING
    assert waiting.waiting_children
    assert waiting.children == ids
    assert waiting.progress.items_total == 5
    assert await store.redis.xlen(SPEC.stream) == 2  # only `concurrency` on the queue
    assert await store.redis.xlen(keys.held(parent.task_id)) == 3
    assert (await store.redis.xpending(SPEC.stream, SPEC.group))["pending"] == 0  # parent's delivery acked

    finished = [await _run_one(store), await _run_one(store, fail=True)]
    assert all(finished)
    assert await store.redis.xlen(SPEC.stream) == 2  # two ended, two released
    middle = await store.get(parent.task_id)
    assert (middle.progress.items_done, middle.progress.items_failed) == (2, 1)
    while await _run_one(store):
        pass
    final = await store.get(parent.task_id)
    assert final.status == JobStatus.SUCCEEDED
    assert final.result == {"total": 5, "succeeded": 4, "failed": 1, "bytes": 4000}
    assert final.progress.percent == 100.0
    assert final.finished_at is not None
    items = await store.items(parent.task_id, 0, 5)
    assert [i["status"] for i in items if i].count("failed") == 1
    assert all(i is not None for i in items)
    assert not await store.redis.exists(keys.held(parent.task_id))


async def test_cancelling_a_waiting_parent_cancels_every_child(client: JobClient) -> None:
    store = client.store
    parent, ids = await _parent_with_children(client, n=4, concurrency=1)
    read = await _read(store, "child-worker")
    assert read is not None
    running_child, child_task = read
    assert (await store.start(child_task, running_child, "r1")).applied
    response = await client.cancel(parent.task_id)
    assert response.cancel_requested
    statuses = {i: (await store.get(i)).status for i in ids}
    assert list(statuses.values()).count(JobStatus.CANCELLED) == 3  # the held ones at once
    # the running child stops (as its worker would on the cancel request) and ends cancelled
    await store.finish(child_task, JobStatus.CANCELLED, delivery=running_child, run_id="r1")
    final = await store.get(parent.task_id)
    assert final.status == JobStatus.CANCELLED
    assert final.finished_at is not None


async def test_discarded_staged_follow_ups_leave_no_listing_or_search_entry(client: JobClient) -> None:
    """A parent that ends without succeeding drops the follow-ups an earlier run staged: their records go, and
    so do their entries in every listing, count and search index (not only the global one)."""
    store = client.store
    body = {"job_type": "echo", "then": [{"job_type": "echo", "payload": {"note": "zebracrossing"}}]}
    parent = (await client.submit(body)).job
    request = JOB_TYPES.parse(parent.request)
    staged = await stage_follow_ups(store, parent, request)
    follow_up = staged[0].task_id
    assert follow_up in [j.task_id for j in (await store.search(JobQuery(), limit=50)).jobs]
    before = await store.index.counts(JobQuery())

    assert await discard_staged_follow_ups(store, parent, request) == 1
    assert not await store.redis.exists(keys.job(follow_up))
    assert follow_up not in [j.task_id for j in (await store.search(JobQuery(), limit=50)).jobs]
    assert (await store.index.counts(JobQuery())).total == before.total - 1
    assert await store.redis.zscore(keys.JOB_INDEX, follow_up) is None
