"""The job store against a real Redis: transitions, fencing, expiry, pruning, progress coalescing."""

from __future__ import annotations

import asyncio
import json
import unicodedata
import uuid
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from jobcommon import (
    QUEUES,
    CommonSettings,
    ErrorInfo,
    Job,
    JobNotFound,
    JobStateConflict,
    JobStatus,
    Progress,
    keys,
)
from jobcommon.models import utcnow
from jobcommon.progress import ProgressReporter
from jobcommon.queues import Queue
from jobcommon.sources import SourceError, resolve_source, source_job
from jobcommon.store import Delivery, JobStore
from jobcommon.upkeep import Upkeep

SPEC = QUEUES[Queue.DEFAULT]


@pytest.fixture
def redis(unrun_redis: Redis) -> Redis:
    return unrun_redis


@pytest.fixture
def store(redis: Redis, settings: CommonSettings) -> JobStore:
    return JobStore(redis, settings)


def _job() -> Job:
    return Job(
        task_id=uuid.uuid4().hex,
        job_type="echo",
        queue="default",
        status=JobStatus.QUEUED,
        created_at=utcnow(),
        request={"job_type": "echo"},
        max_attempts=3,
    )


async def _deliver(redis: Redis, job: Job, consumer: str = "w1") -> Delivery:
    """Put a message for the job on the stream and read it as `consumer` would."""
    await redis.xadd(SPEC.stream, {"task": job.task_id})
    return await _read(redis, consumer)


async def _created_and_started(store: JobStore, redis: Redis) -> tuple[Job, Delivery, str]:
    job = _job()
    await store.create(job)
    delivery = await _deliver(redis, job)
    run_id = uuid.uuid4().hex
    started = await store.start(job.task_id, delivery, run_id)
    assert started.job is not None
    return started.job, delivery, run_id


async def test_create_is_unique_and_expires(store: JobStore, redis: Redis, settings: CommonSettings) -> None:
    job = _job()
    assert (await store.create(job)).created
    assert (await store.create(job)).created  # the same creation retried (lost reply): idempotent
    with pytest.raises(JobStateConflict):
        await store.create(job.model_copy(update={"created_at": utcnow()}))  # another job, same id
    assert 0 < await redis.ttl(keys.job(job.task_id)) <= settings.queued_ttl_s
    assert await redis.ttl(keys.JOB_INDEX) > 0
    assert (await store.get(job.task_id)).model_dump() == job.model_dump()


async def test_idempotency_key_and_duplicate_guard(store: JobStore, redis: Redis) -> None:
    first = _job()
    assert (await store.create(first, idempotency_key="k1")).created
    replay = await store.create(_job(), idempotency_key="k1")
    assert (replay.created, replay.reason, replay.job.task_id) == (False, "idempotent", first.task_id)
    assert 0 < await redis.ttl(keys.idempotency("", "k1")) <= 24 * 3600
    guard = keys.duplicate_guard("echo", "abc", None)
    owner = _job()
    assert (await store.create(owner, duplicate_guard=guard)).created
    dup = await store.create(_job(), duplicate_guard=guard)
    assert (dup.created, dup.reason, dup.job.task_id) == (False, "duplicate", owner.task_id)
    await store.request_cancel(owner.task_id)  # ends the owner: the guard is released
    assert (await store.create(_job(), duplicate_guard=guard)).created


async def test_lifecycle_ttls_and_ack(store: JobStore, redis: Redis, settings: CommonSettings) -> None:
    job, delivery, run_id = await _created_and_started(store, redis)
    assert job.status == JobStatus.RUNNING
    assert job.attempts == 1
    assert await redis.ttl(keys.job(job.task_id)) <= settings.progress_ttl_s
    assert await redis.hget(keys.inflight(SPEC.queue), delivery.entry_id) == job.task_id
    done = await store.finish(
        job.task_id, JobStatus.SUCCEEDED, delivery=delivery, run_id=run_id, result={"ok": 1}
    )
    assert (done.applied, done.status) == (True, JobStatus.SUCCEEDED)
    assert (await store.get(job.task_id)).result == {"ok": 1}
    assert settings.progress_ttl_s < await redis.ttl(keys.job(job.task_id)) <= settings.result_ttl_s
    assert (await redis.xpending(SPEC.stream, SPEC.group))["pending"] == 0
    assert await redis.xlen(SPEC.stream) == 0
    assert await redis.hlen(keys.inflight(SPEC.queue)) == 0


async def test_fencing_a_stale_run_cannot_write(store: JobStore, redis: Redis) -> None:
    job, delivery, run_id = await _created_and_started(store, redis)
    stale = await store.finish(job.task_id, JobStatus.SUCCEEDED, delivery=delivery, run_id="someone-else")
    assert stale.lost
    assert (await store.check_in(job.task_id, "someone-else", delivery, renew=False))[0] == "lost"
    assert (await store.check_in(job.task_id, run_id, delivery, renew=True)) == ("ok", False)


async def test_start_refused_once_delivery_was_reclaimed(store: JobStore, redis: Redis) -> None:
    job = _job()
    await store.create(job)
    delivery = await _deliver(redis, job)
    await redis.xack(SPEC.stream, SPEC.group, delivery.entry_id)  # as a reclaimer would
    assert (await store.start(job.task_id, delivery, "r")).lost


async def test_cancelled_job_cannot_succeed_or_start(store: JobStore, redis: Redis) -> None:
    job = _job()
    await store.create(job)
    cancelled = await store.request_cancel(job.task_id)
    assert cancelled.status == JobStatus.CANCELLED
    delivery = await _deliver(redis, job)
    refused = await store.start(job.task_id, delivery, "r")
    assert refused.status == JobStatus.CANCELLED
    assert (await store.get(job.task_id)).status == JobStatus.CANCELLED


async def test_finished_job_cannot_be_cancelled(store: JobStore, redis: Redis) -> None:
    job, delivery, run_id = await _created_and_started(store, redis)
    await store.finish(
        job.task_id,
        JobStatus.FAILED,
        delivery=delivery,
        run_id=run_id,
        error=ErrorInfo(type="Boom", message="boom"),
    )
    with pytest.raises(JobStateConflict) as caught:
        await store.request_cancel(job.task_id)
    assert caught.value.status == JobStatus.FAILED
    with pytest.raises(JobNotFound):
        await store.request_cancel("missing")


async def test_running_job_cancel_is_a_request(store: JobStore, redis: Redis) -> None:
    job, delivery, run_id = await _created_and_started(store, redis)
    asked = await store.request_cancel(job.task_id)
    assert asked.status == JobStatus.RUNNING
    assert asked.cancel_requested
    assert await store.check_in(job.task_id, run_id, delivery, renew=False) == ("ok", True)


async def test_transitions_are_atomic_under_races(store: JobStore, redis: Redis) -> None:
    """Many deliveries of one job race to start it: exactly one wins."""
    job = _job()
    await store.create(job)
    deliveries = [await _deliver(redis, job, consumer=f"w{i}") for i in range(20)]
    results = await asyncio.gather(*(store.start(job.task_id, d, f"r{i}") for i, d in enumerate(deliveries)))
    assert sum(r.applied for r in results) == 1
    assert (await store.get(job.task_id)).attempts == 1


async def test_retry_later_parks_and_promotes_same_message(store: JobStore, redis: Redis) -> None:
    job, delivery, run_id = await _created_and_started(store, redis)
    assert await store.retry_later(
        job.task_id,
        delivery=delivery,
        run_id=run_id,
        delay_s=0.3,
        error=ErrorInfo(type="Flaky", message="try again"),
        progress=Progress(message="next attempt in 0.3 s", items_total=4, items_done=1),
    )
    waiting = await store.get(job.task_id)
    assert waiting.status == JobStatus.RETRYING
    assert waiting.progress.message == "next attempt in 0.3 s"
    assert waiting.next_attempt_at is not None
    assert await redis.xlen(SPEC.stream) == 0
    assert await store.promote_due() == 0  # not due yet
    await asyncio.sleep(0.35)
    assert await store.promote_due() == 1
    promoted = await store.get(job.task_id)
    assert promoted.status == JobStatus.QUEUED
    assert (promoted.progress.message, promoted.progress.items_done) == ("", 1)  # the wait is over
    entries = cast("list[Any]", await redis.xrange(SPEC.stream))
    assert entries[-1][1] == {"task": job.task_id}  # the very same message fields
    assert not await redis.exists(keys.parked(job.task_id))


async def test_reclaim_requeues_then_dead_letters(store: JobStore, redis: Redis) -> None:
    job = _job().model_copy(update={"max_attempts": 2})
    await store.create(job)
    for attempt in (1, 2):
        delivery = await _deliver(redis, job) if attempt == 1 else await _read(redis)
        started = await store.start(job.task_id, delivery, f"run{attempt}")
        assert started.job is not None
        assert started.job.attempts == attempt
        # a run reports afresh: nothing of the requeue's words, the item count kept
        assert started.job.progress.message == ""
        assert started.job.progress.items_total == (None if attempt == 1 else 9)
        await store.report_progress(job.task_id, Progress(percent=42.0, message="halfway", items_total=9))
        await asyncio.sleep(0.15)  # the worker "dies": no renewal
        outcome = await store.reclaim(SPEC.queue, SPEC.group, min_idle_s=0.1)
        if attempt == 1:
            assert (outcome.requeued, outcome.dead) == (1, 0)
            requeued = await store.get(job.task_id)
            assert requeued.status == JobStatus.QUEUED
            # not its lost run's "42 % halfway", as if it still ran; a bulk job's count stands
            assert requeued.progress.percent is None
            assert requeued.progress.message == "its worker was lost; queued again"
            assert requeued.progress.items_total == 9
            assert requeued.progress.updated_at is not None
        else:
            assert (outcome.requeued, outcome.dead) == (0, 1)
    final = await store.get(job.task_id)
    assert final.status == JobStatus.FAILED
    assert final.dead
    assert final.error is not None
    assert final.error.type == "WorkerLost"
    dead = cast("list[Any]", await redis.xrange(keys.DEAD_LETTERS))
    assert dead[-1][1]["task_id"] == job.task_id
    assert (await redis.xpending(SPEC.stream, SPEC.group))["pending"] == 0


async def _read(redis: Redis, consumer: str = "w2") -> Delivery:
    reply = cast("list[Any]", await redis.xreadgroup(SPEC.group, consumer, {SPEC.stream: ">"}, count=1))
    return Delivery(SPEC.queue, SPEC.group, consumer, str(reply[0][1][0][0]))


async def test_release_does_not_count_the_attempt(store: JobStore, redis: Redis) -> None:
    job, delivery, _ = await _created_and_started(store, redis)
    outcome = await store.release(SPEC.queue, SPEC.group, [delivery.entry_id], delivery.priority)
    assert outcome.requeued == 1
    again = await store.get(job.task_id)
    assert (again.status, again.attempts) == (JobStatus.QUEUED, 0)
    assert again.progress.message == "handed back by a stopping worker; queued again"


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
    job, _, run_id = await _created_and_started(store, redis)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.job_events(job.task_id))
    reporter = ProgressReporter(store, job.task_id, interval=0.2, run_id=run_id)
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


async def test_progress_after_finish_is_ignored(store: JobStore, redis: Redis) -> None:
    job, delivery, run_id = await _created_and_started(store, redis)
    await store.finish(job.task_id, JobStatus.SUCCEEDED, delivery=delivery, run_id=run_id)
    late = await store.report_progress(job.task_id, Progress(percent=5.0), run_id=run_id)
    assert late.applied is False
    assert (await store.get(job.task_id)).status == JobStatus.SUCCEEDED


async def test_a_source_job_is_its_owners_alone(store: JobStore, settings: CommonSettings) -> None:
    """A job's output is another owner's to read neither by task id nor by path (`<task id>/...`): it is
    "unknown or expired", as in the API. A job without owner (a trusted component's) may use any."""
    job = _job()
    result = {"path": f"{job.task_id}/media.mp4"}
    bobs = job.model_copy(update={"owner": "bob", "status": JobStatus.SUCCEEDED, "result": result})
    await store.create(bobs)
    made = settings.media_root / bobs.task_id / "media.mp4"
    made.parent.mkdir(parents=True)
    made.write_bytes(b"\0" * 16)
    by_path = f"{bobs.task_id}/media.mp4"
    for owner in ("bob", None):
        assert await resolve_source(store, settings.media_root, bobs.task_id, owner) == made.resolve()
        assert await resolve_source(store, settings.media_root, by_path, owner) == made.resolve()
        assert (await source_job(store, bobs.task_id, owner)).task_id == bobs.task_id
    unknown = f"source job {bobs.task_id} is unknown or expired"
    (settings.media_root / "links").mkdir()
    (settings.media_root / "links" / "bobs.mp4").symlink_to(made)
    ways = (
        bobs.task_id,
        by_path,
        f"./{by_path}",
        f".//{by_path}",
        f"{bobs.task_id}/./media.mp4",
        "links/bobs.mp4",
        f"{bobs.task_id}/no-such-file.mp4",  # not "does not exist": what a job's dir holds is its owner's
        f"{bobs.task_id}/",
    )
    for source in ways:
        with pytest.raises(SourceError) as refused:
            await resolve_source(store, settings.media_root, source, "alice")
        assert str(refused.value) == unknown, source
    scratch = settings.media_root / ".tmp" / bobs.task_id / "media.mp4.part"
    scratch.parent.mkdir(parents=True)
    scratch.write_bytes(b"\0")
    for owner in ("bob", None):  # work in progress is no one's source
        with pytest.raises(SourceError, match="does not exist"):
            await resolve_source(store, settings.media_root, f"./.tmp/{bobs.task_id}/media.mp4.part", owner)
    # once the record has expired, the files are the library's (a path still works; the task id does not)
    await store.redis.delete(keys.job(bobs.task_id))
    assert await resolve_source(store, settings.media_root, by_path, "alice") == made.resolve()
    with pytest.raises(SourceError, match="unknown or expired"):
        await resolve_source(store, settings.media_root, bobs.task_id, "bob")
    with pytest.raises(SourceError, match="unknown or expired"):
        await source_job(store, bobs.task_id, "alice")
    (settings.media_root / "library").mkdir()
    with pytest.raises(SourceError, match="source 'library' is a directory, not a file"):
        await resolve_source(store, settings.media_root, "library", "bob")


async def test_a_source_the_os_cannot_look_up_fails_for_good_naming_it_as_given(
    store: JobStore, settings: CommonSettings
) -> None:
    """A source path the OS refuses to look up (a name over 255 bytes, a path over 4096, a symlink loop):
    not an OSError retried as transient whose message holds MEDIA_ROOT's absolute path, but a SourceError
    (permanent) naming the source as given. (Submission refuses such names; an older job, or a finished
    job's output path, may still hold one.)"""
    (settings.media_root / "named").mkdir(exist_ok=True)  # the name's folder exists: the OS looks at the name
    loop = settings.media_root / "named" / "loop.jpg"
    if not loop.is_symlink():
        loop.symlink_to(loop)
    for source in (f"named/{'a' * 300}.jpg", "named/" + "a/" * 2500 + "b.jpg", "named/loop.jpg"):
        with pytest.raises(SourceError) as refused:
            await resolve_source(store, settings.media_root, source, None)
        message = str(refused.value)
        assert message.startswith(f"source {source[:20]!r}"[:-1]), message
        assert str(settings.media_root) not in message, message
        assert str(settings.media_root.resolve()) not in message, message


async def test_a_source_named_in_another_unicode_form_is_found(
    store: JobStore, settings: CommonSettings
) -> None:
    """A path sent decomposed (NFD, as macOS clients do) names the file stored composed (NFC), and the
    reverse; the two spell the same text."""
    composed = unicodedata.normalize("NFC", "björk – jóga/café.jpg")
    decomposed = unicodedata.normalize("NFD", composed)
    stored = settings.media_root / "unicode" / composed
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(b"x")
    for given in (composed, decomposed):
        found = await resolve_source(store, settings.media_root, f"unicode/{given}", None)
        assert found == stored.resolve()
    other = settings.media_root / "unicode-nfd" / decomposed
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b"y")
    assert (
        await resolve_source(store, settings.media_root, f"unicode-nfd/{composed}", None) == other.resolve()
    )
    with pytest.raises(SourceError, match="does not exist"):
        await resolve_source(store, settings.media_root, "unicode/bjork - joga/cafe.jpg", None)


async def test_orphans_are_taken_only_when_their_key_stays_missing_and_never_the_callers_own(
    store: JobStore, redis: Redis, settings: CommonSettings
) -> None:
    """A consumer holding deliveries without a liveness key is dead only if its key is still missing two
    liveness intervals after an upkeep first saw it so (after a stall of the whole machine, beacons beat again
    a moment later); the upkeep's own consumer never is (the process asking lives)."""
    quick = settings.model_copy(update={"liveness_interval_s": 0.1, "liveness_ttl_s": 0.3})
    # upkeep reclaims nothing while Redis is younger than a liveness TTL (it may have lost keys)
    await asyncio.sleep(max(0, 1.1 - int((await redis.info("server"))["uptime_in_seconds"])))
    job, _delivery, _run = await _created_and_started(store, redis)  # consumer w1, no liveness key
    own = Upkeep(store, [SPEC], quick, own_consumer="w1")
    other = Upkeep(store, [SPEC], quick, own_consumer="w2")
    assert (await own.reclaim_orphans(), await other.reclaim_orphans()) == (0, 0)  # w1 suspected by other
    await asyncio.sleep(0.25)
    assert await own.reclaim_orphans() == 0
    assert (await store.get(job.task_id)).status == JobStatus.RUNNING
    assert await other.reclaim_orphans() == 1
    assert (await store.get(job.task_id)).status == JobStatus.QUEUED

    second = _job()
    await store.create(second)
    started = await store.start(second.task_id, await _deliver(redis, second, consumer="w3"), "r3")
    assert started.applied
    assert await other.reclaim_orphans() == 0  # suspected
    await redis.set(keys.alive("w3"), "1", px=5000)  # its beacon beats again
    await asyncio.sleep(0.25)
    assert await other.reclaim_orphans() == 0
    assert (await store.get(second.task_id)).status == JobStatus.RUNNING


async def test_a_failed_job_retried_waits_without_its_last_run_s_progress(
    store: JobStore, redis: Redis
) -> None:
    """Queued again, a job showed the failed run's words and percent ("extracting", 40 %) until it started."""
    job, delivery, run_id = await _created_and_started(store, redis)
    await store.report_progress(job.task_id, Progress(percent=40.0, message="extracting"), run_id)
    await store.finish(
        job.task_id,
        JobStatus.FAILED,
        delivery=delivery,
        run_id=run_id,
        error=ErrorInfo(type="Boom", message="b"),
    )
    again = await store.reset_for_retry(job.task_id)
    stored = await store.get(job.task_id)
    for shown in (again, stored):
        assert (shown.status, shown.progress.message, shown.progress.percent) == (JobStatus.QUEUED, "", None)
