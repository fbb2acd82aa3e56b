"""The job store against a real Redis: validated transitions, expiry, index pruning, progress coalescing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from jobcommon import CommonSettings, ErrorInfo, Job, JobNotFound, JobStateConflict, JobStatus, Progress, keys
from jobcommon.models import utcnow
from jobcommon.progress import ProgressReporter
from jobcommon.store import JobStore


def _job(status: JobStatus = JobStatus.QUEUED) -> Job:
    return Job(
        task_id=uuid.uuid4().hex,
        job_type="echo",
        queue="default",
        status=status,
        created_at=utcnow(),
        request={"job_type": "echo"},
    )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A Redis database of its own: these tests make jobs that no service will ever run."""
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + "/5", decode_responses=True)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
def store(redis: Redis, settings: CommonSettings) -> JobStore:
    return JobStore(redis, settings)


async def test_create_is_unique_and_expires(store: JobStore, redis: Redis, settings: CommonSettings) -> None:
    job = _job()
    assert await store.create(job)
    assert not await store.create(job)
    assert 0 < await redis.ttl(keys.job(job.task_id)) <= settings.queued_ttl_s
    assert await redis.ttl(keys.JOB_INDEX) > 0
    assert (await store.get(job.task_id)).model_dump() == job.model_dump()


async def test_lifecycle_ttls(store: JobStore, redis: Redis, settings: CommonSettings) -> None:
    job = _job()
    await store.create(job)
    started = await store.start(job.task_id, "w1")
    assert started.job is not None
    assert started.job.status == JobStatus.RUNNING
    assert started.job.attempts == 1
    assert started.job.worker == "w1"
    assert await redis.ttl(keys.job(job.task_id)) <= settings.progress_ttl_s
    done = await store.succeed(job.task_id, {"ok": True})
    assert done.job is not None
    assert done.job.result == {"ok": True}
    assert done.job.finished_at is not None
    ttl = await redis.ttl(keys.job(job.task_id))
    assert settings.progress_ttl_s < ttl <= settings.result_ttl_s


async def test_cancelled_job_cannot_succeed_or_start(store: JobStore) -> None:
    job = _job()
    await store.create(job)
    cancelled = await store.request_cancel(job.task_id)
    assert cancelled.status == JobStatus.CANCELLED
    assert (await store.start(job.task_id, "w")).applied is False
    refused = await store.succeed(job.task_id, {})
    assert refused.applied is False
    assert refused.status == JobStatus.CANCELLED
    assert (await store.get(job.task_id)).status == JobStatus.CANCELLED


async def test_finished_job_cannot_be_cancelled(store: JobStore) -> None:
    job = _job()
    await store.create(job)
    await store.start(job.task_id, "w")
    await store.fail(job.task_id, ErrorInfo(type="Boom", message="boom"))
    with pytest.raises(JobStateConflict) as caught:
        await store.request_cancel(job.task_id)
    assert caught.value.status == JobStatus.FAILED
    with pytest.raises(JobNotFound):
        await store.request_cancel("missing")


async def test_running_job_cancel_is_a_request(store: JobStore) -> None:
    job = _job()
    await store.create(job)
    await store.start(job.task_id, "w")
    asked = await store.request_cancel(job.task_id)
    assert asked.status == JobStatus.RUNNING
    assert asked.cancel_requested
    assert await store.check_in(job.task_id) == (JobStatus.RUNNING, True)
    assert (await store.mark_cancelled(job.task_id)).status == JobStatus.CANCELLED


async def test_transitions_are_atomic_under_races(store: JobStore) -> None:
    """Many workers race to start the same job: exactly one wins."""
    job = _job()
    await store.create(job)
    results = await asyncio.gather(*(store.start(job.task_id, f"w{i}") for i in range(20)))
    assert sum(r.applied for r in results) == 1
    assert (await store.get(job.task_id)).attempts == 1


async def test_list_prunes_expired_records(store: JobStore, redis: Redis) -> None:
    jobs = [_job() for _ in range(3)]
    for job in jobs:
        await store.create(job)
    await redis.delete(keys.job(jobs[1].task_id))  # as if it had expired
    page = await store.list(limit=500)
    listed = {j.task_id for j in page.jobs}
    assert jobs[0].task_id in listed
    assert jobs[2].task_id in listed
    assert jobs[1].task_id not in listed
    assert await redis.zscore(keys.JOB_INDEX, jobs[1].task_id) is None
    await redis.zadd(keys.JOB_INDEX, {"ghost": 1.0})
    assert await store.prune_index() >= 1
    assert await redis.zscore(keys.JOB_INDEX, "ghost") is None


async def test_progress_is_coalesced_and_final_value_kept(store: JobStore, redis: Redis) -> None:
    job = _job()
    await store.create(job)
    await store.start(job.task_id, "w")
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.job_events(job.task_id))
    reporter = ProgressReporter(store, job.task_id, interval=0.2)
    for i in range(1, 501):  # a burst like yt-dlp's hook
        await reporter.update(i / 5, f"step {i}", downloaded_bytes=i)
    await reporter.flush()
    received = []
    deadline = asyncio.get_running_loop().time() + 1.0
    while asyncio.get_running_loop().time() < deadline:
        if (message := await pubsub.get_message(timeout=0.1)) is not None:
            received.append(json.loads(message["data"]))
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert 1 <= len(received) <= 5, len(received)
    final = await store.get(job.task_id)
    assert final.progress.percent == 100.0
    assert final.progress.message == "step 500"
    assert final.progress.downloaded_bytes == 500
    assert json.loads(received[-1]["job"]["progress"])["message"] == "step 500"


async def test_progress_after_finish_is_ignored(store: JobStore) -> None:
    job = _job()
    await store.create(job)
    await store.start(job.task_id, "w")
    await store.succeed(job.task_id, {})
    late = await store.report_progress(job.task_id, Progress(percent=5.0))
    assert late.applied is False
    assert (await store.get(job.task_id)).status == JobStatus.SUCCEEDED
