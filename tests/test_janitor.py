"""The janitor's periodic duties and its one leader among replicas: real Redis, real janitor processes.

Two janitor processes share a Redis database of their own (9) and a MEDIA_ROOT of their own, with a 2 s
leader lock and duties every 0.3 s. The precise semantics of single duties (what is kept) are checked
in-process on another database (10), where no janitor process interferes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from janitor.duties import ENTRY_IDS_LUA, Housekeeping, dead_consumers, trim_streams
from janitor.leader import LeaderLock
from janitor.scheduler import Duty, DutyScheduler
from janitor.settings import JanitorSettings
from jobcommon import QUEUES, Queue, keys
from jobcommon.broker import ensure_groups
from jobcommon.cancellation import cancel_and_wait
from jobcommon.store import JobStore
from tests.conftest import Stack, service_env
from tests.support.otlp import OtlpReceiver
from tools.procs import ServiceProcess

DB_PROCESSES = 9
DB_IN_PROCESS = 10
LEADER_TTL_S = 2.0
DUTY_INTERVAL_S = 0.3
LEASE_S = 1.0
DUTIES = {"prune_index", "retries", "reclaim", "trim_streams", "dead_consumers", "temp_files", "queue_stats"}
METADATA = QUEUES[Queue.METADATA]
OLD = time.time() - 3600  # older than JANITOR_TEMP_MAX_AGE_S below


def _db(redis_url: str, db: int) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{db}"


async def _ids(redis: Redis, stream: str) -> list[str]:
    """The ids of a stream's entries, oldest first (without decoding bodies, which may be binary)."""
    ids: list[str] = await redis.eval(ENTRY_IDS_LUA, 1, stream, "-", "+", 10_000)
    return ids


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    """Poll until `check()` holds; returns the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@dataclass
class Janitors:
    redis: Redis
    media_root: Path
    procs: list[ServiceProcess]

    async def instance(self, proc: ServiceProcess) -> str:
        """The process's instance name (`<host>-<nonce>-<pid>`), from its presence record."""
        pattern = keys.service("janitor", f"{socket.gethostname()}-*-{proc.pid}")
        (found,) = [key async for key in self.redis.scan_iter(match=pattern)]
        return str(found).rsplit(":", 1)[1]

    def by_instance(self, instance: str) -> ServiceProcess:
        return next(p for p in self.procs if instance.rsplit("-", 1)[1] == str(p.pid))

    def logging(self, text: str) -> list[ServiceProcess]:
        """The processes whose output contains `text`."""
        return [p for p in self.procs if text in p.output()]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} {p.pid} ---\n{p.output()}" for p in self.procs)

    async def leader(self) -> str | None:
        value = await self.redis.get(keys.JANITOR_LEADER)
        return None if value is None else str(value)


@pytest.fixture(scope="module")
async def janitors(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver
) -> AsyncIterator[Janitors]:
    url = _db(redis_url, DB_PROCESSES)
    client = Redis.from_url(url, decode_responses=True)
    await client.flushdb()
    media_root = tmp_path_factory.mktemp("janitor_media")
    intervals = {f"JANITOR_{duty.upper()}_INTERVAL_S": str(DUTY_INTERVAL_S) for duty in DUTIES}
    env = service_env(
        url,
        media_root,
        otlp,
        JANITOR_LEADER_TTL_S=str(LEADER_TTL_S),
        JANITOR_TEMP_MAX_AGE_S="60",
        LEASE_S=str(LEASE_S),
        **intervals,
    )
    procs = [ServiceProcess("janitor", env, name=f"janitor-{n}") for n in "ab"]
    for proc in procs:
        proc.start()
    running = Janitors(client, media_root, procs)

    async def ready() -> bool:
        beats = [k async for k in client.scan_iter(match=keys.service("janitor", "*"))]
        return len(beats) == 2 and await running.leader() is not None

    try:
        await _eventually(ready, 30, "two janitors up, one leading")
    except AssertionError:
        for proc in procs:
            proc.stop()
        raise AssertionError(running.logs()) from None
    yield running
    for proc in procs:
        proc.stop()
    await client.flushdb()
    await client.aclose()


# -- leadership ----------------------------------------------------------------------------------------


async def test_exactly_one_leader_which_renews(janitors: Janitors) -> None:
    leader = await janitors.leader()
    assert leader in {await janitors.instance(p) for p in janitors.procs}
    assert 0 < await janitors.redis.pttl(keys.JANITOR_LEADER) <= LEADER_TTL_S * 1000
    await asyncio.sleep(LEADER_TTL_S * 0.75)
    assert await janitors.leader() == leader
    # Renewed every ttl/3: without renewals fewer than 500 ms would be left by now.
    assert await janitors.redis.pttl(keys.JANITOR_LEADER) > LEADER_TTL_S * 1000 / 2
    assert janitors.logging("became leader") == [janitors.by_instance(str(leader))], janitors.logs()


async def test_every_duty_reports_into_the_hash(janitors: Janitors) -> None:
    async def all_reported() -> bool:
        return set(await janitors.redis.hkeys(keys.JANITOR_REPORT)) >= DUTIES

    await _eventually(all_reported, 5, "a report from every duty")
    reports = {k: json.loads(v) for k, v in (await janitors.redis.hgetall(keys.JANITOR_REPORT)).items()}
    for name in DUTIES:
        report = reports[name]
        assert report["error"] is None, (name, report)
        assert isinstance(report["result"], dict), (name, report)
        assert report["took_ms"] >= 0
        datetime.fromisoformat(report["at"])
    assert reports["prune_index"]["result"] == {"removed": 0}
    assert set(reports["trim_streams"]["result"]["deleted"]) == {q.value for q in QUEUES}
    assert 0 < await janitors.redis.ttl(keys.JANITOR_REPORT) <= 3600
    first = reports["queue_stats"]["at"]

    async def reported_again() -> bool:
        raw = await janitors.redis.hget(keys.JANITOR_REPORT, "queue_stats")
        return raw is not None and json.loads(raw)["at"] > first

    await _eventually(reported_again, 3, "the queue_stats report renewed")


# -- the duties, through the processes -----------------------------------------------------------------


def _write(path: Path, data: bytes = b"x" * 1000, *, old: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if old:
        os.utime(path, (OLD, OLD))
    return path


async def test_temp_files_removes_only_stale_leftovers_of_inactive_jobs(janitors: Janitors) -> None:
    root = janitors.media_root
    orphan, active, fresh, finished, gone = (uuid.uuid4().hex for _ in range(5))
    # A running job: its old scratch dir and old partial file stay.
    await janitors.redis.hset(keys.job(active), mapping={"task_id": active, "status": "running"})
    await janitors.redis.expire(keys.job(active), 60)
    await janitors.redis.hset(keys.job(finished), mapping={"task_id": finished, "status": "succeeded"})
    await janitors.redis.expire(keys.job(finished), 60)
    kept = [
        _write(root / ".tmp" / active / "media.mp4.part"),
        _write(root / active / "media.f137.mp4.part"),
        _write(root / ".tmp" / fresh / "media.mp4.part", old=False),
        _write(root / finished / "media.mp4"),  # a finished output: never touched
        _write(root / gone / "media.mp4"),  # also once the job record expired
        _write(root / gone / "media.f1.mp4.part", old=False),
    ]
    removed = [
        _write(root / ".tmp" / orphan / "media.mp4.part"),
        _write(root / ".tmp" / orphan / "frags" / "media.mp4.part-Frag3"),
        _write(root / gone / "media.f2.mp4.part"),
        _write(root / finished / "media.mp4.ytdl"),
    ]
    for directory in (root / ".tmp" / active, root / ".tmp" / orphan / "frags", root / ".tmp" / orphan):
        os.utime(directory, (OLD, OLD))

    async def cleaned() -> bool:
        return not any(p.exists() for p in removed)

    await _eventually(cleaned, 5, f"stale leftovers removed: {[p for p in removed if p.exists()]}")
    assert not (root / ".tmp" / orphan).exists()
    assert [p for p in kept if not p.exists()] == []
    assert (root / ".tmp").is_dir()

    async def reported() -> bool:  # the report line follows the removal: wait for it, too
        return len(janitors.logging("temp_files: removed")) == 1

    await _eventually(reported, 5, f"one leader reports the removal:\n{janitors.logs()}")


async def test_trim_streams_deletes_acknowledged_leftovers_only(janitors: Janitors) -> None:
    r = janitors.redis
    await ensure_groups(r, [METADATA])
    acked = await r.xadd(METADATA.stream, {"n": "1"})
    await r.xreadgroup(METADATA.group, "trim-test", {METADATA.stream: ">"}, count=1)
    await r.xack(METADATA.stream, METADATA.group, acked)  # acknowledged, not deleted
    waiting = await r.xadd(METADATA.stream, {"n": "2"})  # never delivered
    old_ms = int((time.time() - 3 * 3600) * 1000)  # older than RESULT_TTL_S (2 h)
    old_dead = await r.xadd(keys.DEAD_LETTERS, {"task_id": "old"}, id=f"{old_ms}-0")
    new_dead = await r.xadd(keys.DEAD_LETTERS, {"task_id": "new"})

    async def trimmed() -> bool:
        ids = set(await _ids(r, METADATA.stream))
        dead = set(await _ids(r, keys.DEAD_LETTERS))
        return acked not in ids and old_dead not in dead

    await _eventually(trimmed, 5, "the acknowledged entry and the old dead letter deleted")
    assert await _ids(r, METADATA.stream) == [waiting]
    assert await _ids(r, keys.DEAD_LETTERS) == [new_dead]
    await r.delete(METADATA.stream, keys.DEAD_LETTERS)


async def test_dead_consumers_removes_idle_strangers_not_live_workers(janitors: Janitors) -> None:
    r = janitors.redis
    await ensure_groups(r, [METADATA])
    # A consumer under the name a live janitor's heartbeat announces, on a queue that janitor does not read
    # (its own consumers are on `default`'s lanes: it joins them as it starts, `jobcommon.steady_reads`).
    live = f"janitor-{await janitors.instance(janitors.procs[0])}"
    for consumer in ("ghost", live):
        entry = await r.xadd(METADATA.stream, {"c": consumer})
        await r.xreadgroup(METADATA.group, consumer, {METADATA.stream: ">"}, count=1)
        await r.xack(METADATA.stream, METADATA.group, entry)
    created = time.monotonic()

    async def consumers(spec_stream: str, group: str) -> dict[str, dict[str, int]]:
        found = await r.xinfo_consumers(spec_stream, group)
        return {str(c["name"]): {"pending": int(c["pending"]), "idle": int(c["idle"])} for c in found}

    async def ghost_gone() -> bool:
        return "ghost" not in await consumers(METADATA.stream, METADATA.group)

    await _eventually(ghost_gone, 5, "the idle stranger removed")
    assert time.monotonic() - created >= LEASE_S  # not before it was idle longer than the lease
    await asyncio.sleep(LEASE_S + 2 * DUTY_INTERVAL_S)  # the live one has been idle long enough by now too
    remaining = await consumers(METADATA.stream, METADATA.group)
    assert remaining[live]["idle"] > LEASE_S * 1000
    assert len(janitors.logging("metadata/ghost")) == 1, janitors.logs()


async def test_queue_stats_samples_accumulate(janitors: Janitors) -> None:
    r = janitors.redis
    before = await r.llen(keys.JANITOR_QUEUE_SAMPLES)
    await asyncio.sleep(4 * DUTY_INTERVAL_S)
    assert await r.llen(keys.JANITOR_QUEUE_SAMPLES) >= before + 2
    assert await r.ttl(keys.JANITOR_QUEUE_SAMPLES) > 0
    newest = json.loads(str(await r.lindex(keys.JANITOR_QUEUE_SAMPLES, 0)))
    assert datetime.fromisoformat(newest["at"])
    assert set(newest["queues"]) == {q.value for q in QUEUES}
    assert newest["queues"]["default"]["workers"] == 2
    assert set(newest["queues"]["default"]) == {"length", "pending", "lag", "workers"}


async def test_killed_leader_is_replaced_and_clean_stop_releases(janitors: Janitors) -> None:
    """Runs last in this module: it kills one janitor and stops the other."""
    leader = await janitors.leader()
    assert leader is not None
    dead = janitors.by_instance(leader)
    (survivor,) = (p for p in janitors.procs if p is not dead)
    dead.kill()

    async def taken_over() -> bool:
        return await janitors.leader() == await janitors.instance(survivor)

    took = await _eventually(taken_over, LEADER_TTL_S * 3, "the survivor leading")
    assert took < LEADER_TTL_S + LEADER_TTL_S / 3 + 1.0, took
    since = datetime.now().astimezone().isoformat()

    async def duties_run_again() -> bool:
        raw = await janitors.redis.hget(keys.JANITOR_REPORT, "reclaim")
        return raw is not None and datetime.fromisoformat(json.loads(raw)["at"]) > datetime.fromisoformat(
            since
        )

    await _eventually(duties_run_again, 3, "the new leader running the duties")
    assert survivor.stop() == 0, survivor.output()[-6000:]
    assert await janitors.leader() is None  # released on a clean stop, not left to expire
    assert "released leadership" in survivor.output()


# -- single duties in-process (no janitor process on this database) -----------------------------------


@pytest.fixture
async def hk(redis_url: str, tmp_path: Path) -> AsyncIterator[Housekeeping]:
    url = _db(redis_url, DB_IN_PROCESS)
    client = Redis.from_url(url, decode_responses=True)
    await client.flushdb()
    settings = JanitorSettings(redis_url=url, media_root=tmp_path, lease_s=0.2)
    yield Housekeeping(JobStore(client, settings), settings)
    await client.flushdb()
    await client.aclose()


async def test_trim_keeps_pending_undelivered_and_what_another_group_has_not_read(hk: Housekeeping) -> None:
    r, stream, group = hk.redis, METADATA.stream, METADATA.group
    await ensure_groups(r, [METADATA])
    await r.xgroup_create(stream, "audit", id="0")
    # Bodies may be binary (FastStream's message format): the trim must never decode them.
    done, busy, done_too, waiting = [await r.xadd(stream, {"__data__": b"\x89BIN\xff" * n}) for n in range(4)]
    async with Redis.from_url(hk.settings.redis_url) as raw:  # reads without decoding
        await raw.xreadgroup(group, "w", {stream: ">"}, count=3)
        await raw.xreadgroup("audit", "a", {stream: ">"}, count=1)
    await r.xack(stream, group, done, done_too)
    await r.xack(stream, "audit", done)

    result = await trim_streams(hk)
    assert result["deleted"]["metadata"] == 1  # only what both groups have read and acknowledged
    assert await _ids(r, stream) == [busy, done_too, waiting]

    await r.xgroup_destroy(stream, "audit")
    result = await trim_streams(hk)
    assert result["deleted"]["metadata"] == 1
    assert await _ids(r, stream) == [busy, waiting]  # pending and undelivered stay
    assert (await trim_streams(hk))["deleted"]["metadata"] == 0


async def test_dead_consumers_keeps_busy_live_and_recent_ones(hk: Housekeeping) -> None:
    r, stream, group = hk.redis, METADATA.stream, METADATA.group
    await ensure_groups(r, [METADATA])
    live = {"service": "fake", "instance": "one", "consumer": "live", "queue": "metadata"}
    await r.set(keys.service("fake", "one"), json.dumps(live), px=30_000)
    for consumer in ("idle", "busy", "live"):
        entry = await r.xadd(stream, {"c": consumer})
        await r.xreadgroup(group, consumer, {stream: ">"}, count=1)
        if consumer != "busy":
            await r.xack(stream, group, entry)
    await asyncio.sleep(0.3)  # idle longer than the lease (0.2 s)
    entry = await r.xadd(stream, {"c": "recent"})
    await r.xreadgroup(group, "recent", {stream: ">"}, count=1)
    await r.xack(stream, group, entry)
    result = await dead_consumers(hk)
    assert result == {"removed": ["metadata/idle"], "left_with_pending": 1}
    left = {str(c["name"]) for c in await r.xinfo_consumers(stream, group)}
    assert left == {"busy", "live", "recent"}


async def test_leader_lock_take_renew_release(redis_url: str) -> None:
    client = Redis.from_url(_db(redis_url, DB_IN_PROCESS), decode_responses=True)
    key = f"{keys.JANITOR_LEADER}:test"
    await client.delete(key)
    a, b = LeaderLock(client, "a", 0.6, key=key), LeaderLock(client, "b", 0.6, key=key)
    try:
        await a.start()
        await b.start()
        assert a.is_leader
        assert not b.is_leader
        await asyncio.sleep(1.0)  # longer than the TTL: only renewals keep it
        assert a.is_leader
        assert await client.get(key) == "a"
        await a.stop()  # compare-and-delete: gone at once
        assert await client.get(key) is None
        assert not a.is_leader
        await asyncio.wait_for(b.wait_until_leader(), timeout=1.0)
        assert await client.get(key) == "b"
        stale = LeaderLock(client, "a", 0.6, key=key)
        assert not await stale.step()
        stale._held = True  # a former holder that missed losing the lock must not delete the new one's
        await stale.stop()
        assert await client.get(key) == "b"
    finally:
        await a.stop()
        await b.stop()
        await client.delete(key)
        await client.aclose()


async def test_a_duty_that_will_not_end_does_not_hold_up_the_stop(hk: Housekeeping) -> None:
    """A duty swallowing its cancellation (as a Redis error hiding one once did) is logged and left behind
    after the stop's bound, instead of keeping the janitor from shutting down."""
    lock = LeaderLock(hk.redis, "stubborn", 5.0, key=f"{keys.JANITOR_LEADER}:stubborn")
    started, release = asyncio.Event(), asyncio.Event()

    async def stubborn(_: Housekeeping) -> dict[str, Any]:
        started.set()
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if release.is_set():
                    raise
                # the bug this guards against: a cancellation that does not end the duty

    scheduler = DutyScheduler(hk, lock, [Duty("stubborn", stubborn, 60.0)])
    await lock.start()
    scheduler.start()
    try:
        await asyncio.wait_for(started.wait(), timeout=5)
        began = time.monotonic()
        await scheduler.stop(timeout_s=0.5)
        assert time.monotonic() - began < 2.0
    finally:
        release.set()
        for task in asyncio.all_tasks():
            if task.get_name() == "janitor:stubborn":
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await lock.stop()


async def test_a_duty_whose_cancellation_was_dropped_once_still_stops_at_once(
    hk: Housekeeping, caplog: pytest.LogCaptureFixture
) -> None:
    """Python 3.11's wait_for (inside redis-py) drops a cancellation that lands as a command completes: the
    duty goes on as if never told. The stop asks again until the duty ends, so it ends in a fraction of its
    bound, with no 'did not stop' warning."""
    lock = LeaderLock(hk.redis, "dropped", 5.0, key=f"{keys.JANITOR_LEADER}:dropped")
    started, ended = asyncio.Event(), asyncio.Event()

    async def drops_one(_: Housekeeping) -> dict[str, Any]:
        started.set()
        try:
            with contextlib.suppress(asyncio.CancelledError):  # the dropped one
                await asyncio.sleep(30)
            await asyncio.sleep(30)  # the next request ends it
        finally:
            ended.set()
        return {}

    scheduler = DutyScheduler(hk, lock, [Duty("dropped", drops_one, 60.0)])
    await lock.start()
    scheduler.start()
    try:
        await asyncio.wait_for(started.wait(), timeout=5)
        began = time.monotonic()
        await scheduler.stop(timeout_s=5.0)
        assert time.monotonic() - began < 1.0
        assert ended.is_set()
        assert "did not stop" not in caplog.text
    finally:
        await lock.stop()


async def test_cancel_and_wait_asks_again_and_gives_up_at_its_bound() -> None:
    give_in = asyncio.Event()

    async def drops(times: int) -> None:
        dropped = 0
        while dropped < times and not give_in.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(30)
            dropped += 1
        await asyncio.sleep(30)

    dropping_twice = asyncio.create_task(drops(2))
    await asyncio.sleep(0)
    assert await cancel_and_wait(dropping_twice, within_s=5.0)
    assert dropping_twice.cancelled()
    endless = asyncio.create_task(drops(10**6))
    await asyncio.sleep(0)
    began = time.monotonic()
    assert not await cancel_and_wait(endless, within_s=0.3)
    assert 0.3 <= time.monotonic() - began < 1.0
    give_in.set()
    assert await cancel_and_wait(endless, within_s=5.0)


# -- health through the gateway (the session stack, database 0) ----------------------------------------


async def test_health_shows_the_janitor_leader_and_its_duties(api: httpx.AsyncClient, stack: Stack) -> None:
    async def reported() -> bool:
        janitor = (await api.get("/jobs/health")).json()["janitor"]
        return janitor["leader"] is not None and set(janitor["duties"]) >= DUTIES

    await _eventually(reported, 10, "the janitor's leader and reports in /jobs/health")
    health = (await api.get("/jobs/health")).json()
    leader = rf"{re.escape(socket.gethostname())}-[0-9a-f]{{6}}-{stack.procs['janitor'].pid}"
    assert re.fullmatch(leader, health["janitor"]["leader"]), health["janitor"]
    for report in health["janitor"]["duties"].values():  # what the duties do is checked above
        assert set(report) == {"at", "took_ms", "result", "error"}
        datetime.fromisoformat(report["at"])
    assert health["janitor"]["duties"]["prune_index"]["error"] is None
