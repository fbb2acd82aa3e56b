"""A queue's consumer count follows its live workers from their start, not from their first job.

Redis adds a consumer to a group only when XREADGROUP delivers it something, so a worker that had not yet
received a job was in no group: the Queues page, `mediajobs queues` and `mediajobs_queue_consumers` showed 0
consumers beside a live worker after every restart, until its first job. Workers now join every lane's group
as they start reading (`jobcommon.steady_reads`), and the count takes only members whose process still proves
it lives (`jobcommon.queue_stats`), so a killed worker's leftover membership does not count either.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from jobcommon import keys
from jobcommon.queue_stats import all_queue_stats
from jobcommon.queues import QUEUES, Queue
from tests.cluster import Cluster
from tests.conftest import ApiKeys, bearer, wait_until_ready
from tools.localredis import free_port
from tools.procs import ServiceProcess

T = TypeVar("T")
DEFAULT = QUEUES[Queue.DEFAULT]
DEADLINE_S = 45.0
"""Generous for a busy 2-core machine: a worker is counted within a second or two of its start here."""
WORKER_ENV = {
    "CONCURRENCY": "1",  # fewer free slots than lanes: an idle read watches one lane, the join covers all
    "LEASE_S": "300",  # the janitors' dead_consumers duty leaves a killed worker's consumer in the group
}


async def _until(what: str, get: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    deadline = time.monotonic() + DEADLINE_S
    while not ok(value := await get()):
        assert time.monotonic() < deadline, f"{what}: still {value!r} after {DEADLINE_S:g} s"
        await asyncio.sleep(0.1)
    return value


async def _members(redis: Redis) -> dict[str, set[str]]:
    """Each lane's consumers in the default queue's group, as Redis lists them (none before the group)."""
    found: dict[str, set[str]] = {}
    for priority, stream in DEFAULT.lanes.items():
        try:
            found[priority.value] = {
                str(c["name"]) for c in await redis.xinfo_consumers(stream, DEFAULT.group)
            }
        except ResponseError:  # no stream or group yet
            found[priority.value] = set()
    return found


async def _consumer_of(api: httpx.AsyncClient, proc: ServiceProcess) -> str:
    """The consumer name of a started worker, once its heartbeat shows it (the worker is then ready)."""

    async def named() -> str:
        found = (await api.get("/admin/workers")).json()
        return next((str(w["consumer"]) for w in found if w["pid"] == proc.pid and w["consumer"]), "")

    return await _until(f"worker {proc.pid} listed", named, bool)


def _counted(api: httpx.AsyncClient) -> Callable[[], Awaitable[tuple[int, int]]]:
    async def get() -> tuple[int, int]:
        queue = next(q for q in (await api.get("/admin/queues")).json() if q["queue"] == DEFAULT.queue)
        return int(queue["consumers"]), int(queue["workers"])

    return get


async def _joined(api: httpx.AsyncClient, redis: Redis, consumer: str) -> float:
    """Wait until `consumer` is in every lane's group and the API counts one consumer and one worker (so no
    other: `consumer` counts, being alive); how long that took from the worker being listed (ready)."""
    ready = time.monotonic()
    await _until(f"{consumer} in every lane", lambda: _members(redis), _all_lanes_have(consumer))
    await _until("consumers, workers", _counted(api), lambda counts: counts == (1, 1))
    return time.monotonic() - ready


def _all_lanes_have(consumer: str) -> Callable[[dict[str, set[str]]], bool]:
    return lambda members: all(consumer in names for names in members.values())


async def test_a_started_worker_is_a_consumer_before_its_first_job(
    cluster: Cluster, api_keys: ApiKeys, tmp_path: Path
) -> None:
    port = free_port()
    cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(tmp_path)))
    url = f"http://127.0.0.1:{port}"
    await asyncio.to_thread(wait_until_ready, url, set(), api_keys.admin, 60.0)
    redis = Redis.from_url(cluster.redis_url, decode_responses=True)
    took: dict[str, float] = {}
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=bearer(api_keys.admin)) as api:
            first = cluster.start("janitor", **WORKER_ENV)
            took["first start"] = await _joined(api, redis, await _consumer_of(api, first))

            # A graceful stop leaves the group (no job ran, nothing was pending)...
            assert first.stop() == 0, first.output()[-4000:]
            await _until("consumers, workers after a stop", _counted(api), lambda counts: counts == (0, 0))
            assert await _members(redis) == {p.value: set() for p in DEFAULT.lanes}
            # ... and the restarted worker is counted at once, with no job queued.
            second = cluster.start("janitor", **WORKER_ENV)
            killed = await _consumer_of(api, second)
            took["restart"] = await _joined(api, redis, killed)

            # A killed worker stays in Redis's group, but stops counting once its liveness key expires.
            cluster.kill(second)
            third = cluster.start("janitor", **WORKER_ENV)
            replacement = await _consumer_of(api, third)
            took["replacement of a killed one"] = await _joined(api, redis, replacement)
            assert not await redis.exists(keys.alive(killed))
            assert all(killed in members for members in (await _members(redis)).values())

            # One count everywhere: the API, the CLI, the gateway's metric and the stats themselves.
            assert await _default_consumers(redis) == 1
            scraped = (await api.get("/metrics")).text
            assert re.search(rf'^mediajobs_queue_consumers{{queue="{DEFAULT.queue}"}} 1\.0$', scraped, re.M)
            assert _cli_consumers(url, api_keys.admin, tmp_path) == "1"
    finally:
        await redis.aclose()
    print(", ".join(f"{what}: counted {s:.2f} s after ready" for what, s in took.items()))


async def test_a_live_worker_joins_again_when_its_consumer_is_removed(cluster: Cluster) -> None:
    """As when another process re-created the groups after Redis lost its data, or the janitor took the
    worker for a stopped one while its heartbeat lapsed: the worker is back in every lane within seconds."""
    worker = cluster.start("janitor", **WORKER_ENV)
    redis = Redis.from_url(cluster.redis_url, decode_responses=True)
    try:

        async def one_member() -> set[str]:
            return set().union(*(await _members(redis)).values())

        (consumer,) = await _until("the worker in the group", one_member, lambda m: len(m) == 1)
        await _until("in every lane", lambda: _members(redis), _all_lanes_have(consumer))
        for stream in DEFAULT.lanes.values():
            assert await redis.xgroup_delconsumer(stream, DEFAULT.group, consumer) == 0  # nothing pending
        await _until("joined again", lambda: _members(redis), _all_lanes_have(consumer))
        await _until("counted again", lambda: _default_consumers(redis), lambda count: count == 1)
        assert worker.alive(), worker.output()[-4000:]
    finally:
        await redis.aclose()


async def _default_consumers(redis: Redis) -> int:
    return next(s.consumers for s in await all_queue_stats(redis) if s.queue == DEFAULT.queue)


def _cli_consumers(url: str, key: str, cwd: Path) -> str:
    """The consumers column of the default queue's row in `mediajobs queues`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAJOBS_")}
    done = subprocess.run(
        [sys.executable, "-m", "mediajobs_cli", "queues"],
        env={**env, "MEDIAJOBS_URL": url, "MEDIAJOBS_API_KEY": key, "COLUMNS": "160"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    header = next(line for line in done.stdout.splitlines() if "consumers" in line)
    row = next(line for line in done.stdout.splitlines() if line.strip("│ ").startswith(DEFAULT.queue + " "))
    columns = [c.strip() for c in re.split(r"[│┃]", header)]
    return [c.strip() for c in row.split("│")][columns.index("consumers")]
