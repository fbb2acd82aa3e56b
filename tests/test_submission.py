"""Submitting jobs: a job's record and its message are written in one atomic step, one round trip; a batch
(`submit_many`) in one round trip per `CREATE_BATCH` jobs. No service runs here: only what is written."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import cast

import pytest
from faststream.redis.parser.binary import BinaryMessageFormatV1
from pydantic import ValidationError
from redis.asyncio import Redis

from jobcommon import (
    QUEUES,
    CommonSettings,
    EchoRequest,
    JobStateConflict,
    JobStatus,
    QueueUnavailable,
    keys,
)
from jobcommon.admission import Admission
from jobcommon.errors import RateLimited
from jobcommon.gcra import Rate
from jobcommon.job_types import JOB_TYPES
from jobcommon.messages import DATA_FIELD, JOB_TYPE_HEADER
from jobcommon.queues import Queue
from jobcommon.store import CREATE_BATCH, Created, JobStore
from jobcommon.submission import Submission, submit_job, submit_many

SPEC = QUEUES[Queue.DEFAULT]
QUOTA_OF_2 = Admission(max_active=2)
NO_LIMIT = Admission()
DOWNLOADS = QUEUES[Queue.VIDEO_DOWNLOADS]


@pytest.fixture
def redis(unrun_redis: Redis) -> Redis:
    return unrun_redis


@pytest.fixture
def store(redis: Redis, settings: CommonSettings) -> JobStore:
    return JobStore(redis, settings)


async def test_a_submission_writes_its_record_and_its_message_together(
    store: JobStore, redis: Redis, unrun_db_url: str
) -> None:
    """One job: one stream entry in FastStream's wire format (request, task id, job type), and a record of
    only what the job has (no empty fields, no computed ones), read back as the job submitted."""
    made = await submit_job(store, EchoRequest(payload={"n": 1}), owner="alice")
    assert made.created
    raw = Redis.from_url(unrun_db_url)  # the wire format is binary
    entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", await raw.xrange(SPEC.stream))
    await raw.aclose()
    assert len(entries) == 1
    message = entries[0][1][DATA_FIELD.encode()]
    body, headers = BinaryMessageFormatV1.parse(message)
    assert json.loads(body) == {**made.job.request}
    assert headers["correlation_id"] == made.job.task_id
    assert headers[JOB_TYPE_HEADER] == "echo"
    record = await redis.hgetall(keys.job(made.job.task_id))
    assert "" not in record.values()
    assert "trace_url" not in record
    assert json.loads(record["request"]) == {"job_type": "echo", "payload": {"n": 1}}  # no defaults
    assert JOB_TYPES.parse(json.loads(record["request"])) == EchoRequest(payload={"n": 1})
    # small values: Redis keeps a queued job's hash in its compact encoding (a few hundred bytes)
    assert await redis.object("encoding", keys.job(made.job.task_id)) in ("ziplist", "listpack")
    stored = await store.get(made.job.task_id)
    assert (stored.status, stored.owner, stored.request, stored.created_at) == (
        JobStatus.QUEUED,
        "alice",
        made.job.request,
        made.job.created_at,
    )


async def test_a_replay_or_a_duplicate_adds_no_message(store: JobStore, redis: Redis) -> None:
    first = await submit_job(store, EchoRequest(payload={"n": 1}), idempotency_key="once")
    replay = await submit_job(store, EchoRequest(payload={"n": 1}), idempotency_key="once")
    assert (replay.created, replay.reason, replay.job.task_id) == (False, "idempotent", first.job.task_id)
    download = {"job_type": "video_download", "url": "http://127.0.0.1:9/a.mp4"}
    live = await submit_job(store, download)
    same_work = await submit_job(store, download)
    assert (same_work.created, same_work.reason, same_work.job.task_id) == (
        False,
        "duplicate",
        live.job.task_id,
    )
    assert await redis.xlen(SPEC.stream) == 1
    assert await redis.xlen(DOWNLOADS.stream) == 1
    # a duplicate's answer is the live job itself: another owner's same download is a job of its own
    alices = await submit_job(store, download, owner="alice")
    bobs = await submit_job(store, download, owner="bob")
    assert (alices.created, bobs.created) == (True, True), (alices, bobs)
    again = await submit_job(store, download, owner="bob")
    assert (again.created, again.reason, again.job.task_id) == (False, "duplicate", bobs.job.task_id)


async def test_a_download_with_other_follow_ups_is_no_duplicate(store: JobStore, redis: Redis) -> None:
    """The same URL with other follow-ups (`then`) is other work: answering it with the live job would drop
    its follow-ups without a word. The same follow-ups, however spelled (defaults written out, keys or
    follow-ups in another order), still make a duplicate."""
    url = "http://127.0.0.1:9/same.mp4"
    thumbnail = {"job_type": "video_download", "url": url, "then": [{"job_type": "thumbnail"}]}
    first = await submit_job(store, thumbnail)
    other_follow_ups = {
        "job_type": "video_download",
        "url": url,
        "then": [{"job_type": "storyboard"}, {"job_type": "metadata_enrich"}],
    }
    second = await submit_job(store, other_follow_ups)
    assert second.created, second
    assert second.job.request["then"] == other_follow_ups["then"]
    none = await submit_job(store, {"job_type": "video_download", "url": url})
    assert none.created, none  # no follow-ups at all is other work again
    same_spelled_out = {
        "url": url,
        "then": [{"sizes": [320], "job_type": "thumbnail", "candidates": 5}],
        "job_type": "video_download",
    }
    reordered = {**other_follow_ups, "then": [{"job_type": "metadata_enrich"}, {"job_type": "storyboard"}]}
    for body, live in ((thumbnail, first), (same_spelled_out, first), (reordered, second)):
        again = await submit_job(store, body)
        assert (again.created, again.reason, again.job.task_id) == (False, "duplicate", live.job.task_id)
    assert await redis.xlen(DOWNLOADS.stream) == 3


async def test_an_owner_at_its_quota_gets_nothing_made_but_its_replays(store: JobStore, redis: Redis) -> None:
    """An admission's quota is checked in the step that would create the job: at the limit, nothing is written
    (RateLimited), an idempotent replay still answers with its job, another owner is not limited, and a
    finished job frees its place."""
    first = await submit_job(store, EchoRequest(), owner="quota", admission=QUOTA_OF_2, idempotency_key="k")
    await submit_job(store, EchoRequest(payload={"n": 2}), owner="quota", admission=QUOTA_OF_2)
    with pytest.raises(
        RateLimited, match=r"already has 2 unfinished jobs \(scheduled, queued, retrying or running"
    ):
        await submit_job(store, EchoRequest(payload={"n": 3}), owner="quota", admission=QUOTA_OF_2)
    assert await redis.xlen(SPEC.stream) == 2
    assert len((await store.list(owner="quota")).jobs) == 2
    replay = await submit_job(store, EchoRequest(), owner="quota", admission=QUOTA_OF_2, idempotency_key="k")
    assert (replay.created, replay.job.task_id) == (False, first.job.task_id)
    assert (await submit_job(store, EchoRequest(), owner="other", admission=QUOTA_OF_2)).created
    await store.request_cancel(first.job.task_id)
    again = await submit_job(store, EchoRequest(payload={"n": 4}), owner="quota", admission=QUOTA_OF_2)
    assert again.created


async def test_a_caller_over_its_rate_gets_nothing_made_and_the_wait(store: JobStore, redis: Redis) -> None:
    """An admission's rate (GCRA, a burst of 2 then 2 a second) is checked in the same step: beyond it,
    RateLimited with the seconds to wait and nothing written; once they passed, the next one is made."""
    limited = Admission(rate_key=keys.submit_rate("test-key"), rate=Rate(per_s=2, burst=2))
    for n in range(2):
        assert (await submit_job(store, EchoRequest(payload={"n": n}), admission=limited)).created
    with pytest.raises(RateLimited, match="too many submissions") as refused:
        await submit_job(store, EchoRequest(payload={"n": 2}), admission=limited)
    assert 0 < refused.value.retry_after_s <= 0.5
    assert await redis.xlen(SPEC.stream) == 2
    # answered before the rate is looked at: a replay, and the same creation retried after a lost reply
    replay = await submit_job(store, EchoRequest(payload={"n": 0}), idempotency_key="r", admission=NO_LIMIT)
    again = await submit_job(store, EchoRequest(payload={"n": 0}), idempotency_key="r", admission=limited)
    assert (again.created, again.job.task_id) == (False, replay.job.task_id)
    made = replay.job
    retried = await store.create(made, admission=limited)  # same id, same creation time
    assert retried.created
    await asyncio.sleep(refused.value.retry_after_s + 0.05)
    assert (await submit_job(store, EchoRequest(payload={"n": 3}), admission=limited)).created


async def test_a_message_that_cannot_be_added_leaves_no_record(store: JobStore, redis: Redis) -> None:
    """The script adds the message before it writes anything else: if that fails, nothing was written."""
    stream = "mj:test:not-a-stream"
    await redis.set(stream, "a string, so XADD fails")
    task_id = uuid.uuid4().hex
    with pytest.raises(QueueUnavailable, match="WRONGTYPE"):
        await submit_job(store, EchoRequest(), task_id=task_id, stream=stream)
    assert not await redis.exists(keys.job(task_id))
    assert (await store.list()).jobs == []


async def test_submit_many_writes_every_job_and_reports_each(store: JobStore, redis: Redis) -> None:
    """More than one batch's worth in one call; a taken task id is that slot's JobStateConflict, the rest
    are made; a bad request anywhere submits nothing."""
    count = CREATE_BATCH + 20
    made = await submit_many(
        store, [Submission(EchoRequest(payload={"i": i}), owner="bob") for i in range(count)]
    )
    assert all(isinstance(one, Created) and one.created for one in made)
    assert await redis.xlen(SPEC.stream) == count
    ids = [one.job.task_id for one in made if isinstance(one, Created)]
    assert len(set(ids)) == count
    assert (await store.get(ids[-1])).request["payload"] == {"i": count - 1}

    taken = ids[0]
    again = await submit_many(store, [Submission(EchoRequest(), task_id=taken), Submission(EchoRequest())])
    assert isinstance(again[0], JobStateConflict)
    assert isinstance(again[1], Created)
    assert again[1].created
    assert await redis.xlen(SPEC.stream) == count + 1

    with pytest.raises(ValidationError):
        await submit_many(
            store, [Submission(EchoRequest()), Submission({"job_type": "echo", "sleep_s": "long"})]
        )
    assert await redis.xlen(SPEC.stream) == count + 1
