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
from jobcommon.errors import JobStateConflict
from jobcommon.job_index import JobQuery
from jobcommon.job_types import JOB_TYPES
from jobcommon.queues import Queue
from jobcommon.store import Delivery, JobStore
from jobcommon.submission import child_id, discard_staged_follow_ups, stage_follow_ups, submit_job
from tests.support.db_client import client_on_db

SPEC = QUEUES[Queue.DEFAULT]


@pytest.fixture
async def client(redis_url: str, settings: CommonSettings) -> AsyncIterator[JobClient]:
    async with client_on_db(redis_url, settings, 6, [SPEC]) as jobs:
        yield jobs


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


async def _run_one(
    store: JobStore, *, fail: bool = False, result: dict[str, Any] | None = None
) -> str | None:
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
            result=result or {"path": f"{task_id}/media.mp4", "size": 1000},
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
    assert final.result == {"total": 5, "succeeded": 4, "failed": 1, "cancelled": 0, "bytes": 4000}
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


async def test_entries_cancelled_with_their_parent_count_as_cancelled_not_failed(client: JobClient) -> None:
    """A playlist cancelled mid-way: its cancelled entries are counted as cancelled in its progress, its
    result and its items; only an entry that failed counts as failed."""
    store = client.store
    parent, ids = await _parent_with_children(client, n=4, concurrency=1)
    assert await _run_one(store) == ids[0]
    assert await _run_one(store, fail=True) == ids[1]
    read = await _read(store, "child-worker")
    assert read is not None
    delivery, running = read
    assert running == ids[2]
    assert (await store.start(running, delivery, "r1")).applied
    await client.cancel(parent.task_id)  # the held entry at once; the running one as its worker stops
    await store.finish(running, JobStatus.CANCELLED, delivery=delivery, run_id="r1")

    final = await store.get(parent.task_id)
    assert final.status == JobStatus.CANCELLED
    assert final.result == {"total": 4, "succeeded": 1, "failed": 1, "cancelled": 2, "bytes": 1000}
    progress = final.progress
    assert (progress.items_done, progress.items_failed, progress.items_cancelled) == (4, 1, 2)
    assert progress.message == "4 of 4 done, 1 failed, 2 cancelled"
    items = await store.items(parent.task_id, 0, 4)
    assert [i["status"] if i else None for i in items] == ["succeeded", "failed", "cancelled", "cancelled"]


async def test_a_parent_whose_entries_were_all_cancelled_is_cancelled_not_failed(client: JobClient) -> None:
    store = client.store
    parent, ids = await _parent_with_children(client, n=2, concurrency=1)
    for task_id in ids:  # each entry cancelled on its own (queued, held): the parent was not asked to stop
        await client.cancel(task_id)
    final = await store.get(parent.task_id)
    assert final.status == JobStatus.CANCELLED
    assert final.error is None
    assert final.result == {"total": 2, "succeeded": 0, "failed": 0, "cancelled": 2, "bytes": 0}


async def test_an_items_result_is_the_entry_jobs_result_unchanged(client: JobClient) -> None:
    """Empty lists stay lists (Lua's cjson reads `[]` and `{}` alike and writes both back as `{}`)."""
    store = client.store
    parent, ids = await _parent_with_children(client, n=1, concurrency=1)
    result = {"path": "x/media.mp4", "size": 7, "extra_files": [], "tags": {}, "title": 'Ünïcode / \\ "q"'}
    assert await _run_one(store, result=result) == ids[0]
    child = await store.get(ids[0])
    assert child.result == result
    (item,) = await store.items(parent.task_id, 0, 1)
    assert item is not None
    assert item["result"] == result
    assert item["item"] == ids[0]  # an echo entry has no URL: its task id
    assert (await store.get(parent.task_id)).result == {
        "total": 1,
        "succeeded": 1,
        "failed": 0,
        "cancelled": 0,
        "bytes": 7,
    }


async def test_a_retried_entry_corrects_its_ended_parent(client: JobClient) -> None:
    """An entry that failed and is retried after its parent ended: when it ends again, its item is replaced
    and the parent's counts, result and status follow, without re-opening the parent."""
    store = client.store
    parent, ids = await _parent_with_children(client, n=3, concurrency=3)
    assert await _run_one(store) == ids[0]
    assert await _run_one(store, fail=True) == ids[1]
    assert await _run_one(store, fail=True) == ids[2]
    ended = await store.get(parent.task_id)
    assert ended.status == JobStatus.SUCCEEDED
    assert ended.result == {"total": 3, "succeeded": 1, "failed": 2, "cancelled": 0, "bytes": 1000}

    await client.retry(ids[1])
    fixed = {"path": f"{ids[1]}/media.mp4", "size": 500, "extra_files": []}
    assert await _run_one(store, result=fixed) == ids[1]
    corrected = await store.get(parent.task_id)
    assert corrected.result == {"total": 3, "succeeded": 2, "failed": 1, "cancelled": 0, "bytes": 1500}
    assert corrected.progress.message == "3 of 3 done, 1 failed"
    assert (corrected.progress.items_done, corrected.progress.items_failed) == (3, 1)
    assert corrected.progress.percent == 100.0
    assert corrected.status == JobStatus.SUCCEEDED
    assert not corrected.waiting_children
    assert corrected.finished_at == ended.finished_at
    assert corrected.attempt_log == ended.attempt_log
    item = (await store.items(parent.task_id, 1, 1))[0]
    assert item is not None
    assert (item["status"], item["result"], item["task_id"]) == ("succeeded", fixed, ids[1])
    assert "error" not in item
    assert item["attempts"] == 1
    assert await store.redis.xlen(SPEC.stream) == 0  # nothing released, nothing left to run

    await client.retry(ids[2])  # fails again: the item says so, with the new attempt; the counts stand
    assert await _run_one(store, fail=True) == ids[2]
    again = await store.get(parent.task_id)
    assert again.result == corrected.result
    item = (await store.items(parent.task_id, 2, 1))[0]
    assert item is not None
    assert (item["status"], item["error"]["type"]) == ("failed", "Boom")


async def test_a_failed_parent_whose_retried_entry_succeeds_becomes_succeeded(client: JobClient) -> None:
    store = client.store
    parent, ids = await _parent_with_children(client, n=2, concurrency=2)
    assert await _run_one(store, fail=True) == ids[0]
    assert await _run_one(store, fail=True) == ids[1]
    failed = await store.get(parent.task_id)
    assert failed.status == JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.type == "AllChildrenFailed"

    await client.retry(ids[0])
    assert await _run_one(store) == ids[0]
    now = await store.get(parent.task_id)
    assert now.status == JobStatus.SUCCEEDED
    assert now.error is None
    assert now.result == {"total": 2, "succeeded": 1, "failed": 1, "cancelled": 0, "bytes": 1000}
    listed = await store.search(JobQuery(status=JobStatus.SUCCEEDED), limit=50)
    assert parent.task_id in [j.task_id for j in listed.jobs]
    listed = await store.search(JobQuery(status=JobStatus.FAILED), limit=50)
    assert parent.task_id not in [j.task_id for j in listed.jobs]


async def test_an_entry_retried_while_its_parent_waits_is_counted_once(client: JobClient) -> None:
    """An entry that fails and, retried, ends again before its siblings: counted once, so the parent still
    waits for the entry not yet run and ends after it."""
    store = client.store
    parent, ids = await _parent_with_children(client, n=3, concurrency=1)
    assert await _run_one(store, fail=True) == ids[0]  # releases ids[1]
    await client.retry(ids[0])  # queued behind ids[1]
    assert await _run_one(store) == ids[1]  # releases ids[2], behind ids[0]
    assert await _run_one(store) == ids[0]
    waiting = await store.get(parent.task_id)
    assert waiting.waiting_children
    assert (waiting.progress.items_done, waiting.progress.items_failed) == (2, 0)
    assert waiting.progress.message == "2 of 3 done, 0 failed"
    assert await _run_one(store) == ids[2]
    final = await store.get(parent.task_id)
    assert final.status == JobStatus.SUCCEEDED
    assert final.result == {"total": 3, "succeeded": 3, "failed": 0, "cancelled": 0, "bytes": 3000}
    assert await _run_one(store) is None


async def test_an_entry_retried_after_its_parent_expired_leaves_nothing_behind(client: JobClient) -> None:
    store = client.store
    parent, ids = await _parent_with_children(client, n=1, concurrency=1)
    assert await _run_one(store, fail=True) == ids[0]
    await store.redis.delete(keys.job(parent.task_id), keys.job_items(parent.task_id))
    await client.retry(ids[0])
    assert await _run_one(store) == ids[0]
    assert (await store.get(ids[0])).status == JobStatus.SUCCEEDED
    assert not await store.redis.exists(keys.job(parent.task_id), keys.job_items(parent.task_id))


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


async def test_a_retried_failed_parent_ends_at_once_and_its_retried_entries_correct_it(
    client: JobClient,
) -> None:
    """Retrying a failed playlist runs it again; its entries exist already and keep their outcome, so the
    parent ends again at once (it used to wait for children that never came, until its record expired);
    retrying an entry then corrects it, never into negative counts."""
    store = client.store
    parent, ids = await _parent_with_children(client, n=2, concurrency=2)
    assert await _run_one(store, fail=True) == ids[0]
    assert await _run_one(store, fail=True) == ids[1]
    assert (await store.get(parent.task_id)).status == JobStatus.FAILED
    await client.retry(parent.task_id)  # the dashboard's Retry on a failed playlist
    read = await _read(store, "parent-worker")
    assert read is not None
    delivery, task_id = read
    assert task_id == parent.task_id
    run_id = uuid.uuid4().hex
    assert (await store.start(parent.task_id, delivery, run_id)).applied
    for index, child in enumerate(ids):  # the handler's spawn_children: the children exist already
        with pytest.raises(JobStateConflict):
            await submit_job(
                store,
                EchoRequest(payload={"i": index}),
                task_id=child,
                parent_id=parent.task_id,
                child_index=index,
                stream=keys.held(parent.task_id),
            )
    assert await store.await_children(
        parent.task_id,
        delivery=delivery,
        run_id=run_id,
        children=ids,
        children_stream=SPEC.stream,
        concurrency=2,
    )
    again = await store.get(parent.task_id)
    assert again.status == JobStatus.FAILED
    assert again.result == {"total": 2, "succeeded": 0, "failed": 2, "cancelled": 0, "bytes": 0}
    assert again.waiting_children is False
    await client.retry(ids[0])
    await client.retry(ids[1])
    assert {await _run_one(store), await _run_one(store)} == set(ids)
    fixed = await store.get(parent.task_id)
    assert fixed.status == JobStatus.SUCCEEDED
    assert (fixed.progress.items_done, fixed.progress.items_failed) == (2, 0)
    assert fixed.result == {"total": 2, "succeeded": 2, "failed": 0, "cancelled": 0, "bytes": 2000}
