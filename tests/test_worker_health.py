"""`python -m jobcommon.health <service>` (the worker containers' HEALTHCHECK and Kubernetes probe) against a
real running service: healthy while it runs, unhealthy once it stopped or when its consumer group is gone."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis

from jobcommon import CommonSettings, keys
from jobcommon.health import HEALTHY, UNHEALTHY, USAGE, check, probe, queue_of
from jobcommon.liveness import LivenessBeacon
from jobcommon.queues import QUEUES, Queue, QueueSpec
from tests.cluster import Cluster
from tools.localredis import LocalRedis


def health_command(service: str, redis_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobcommon.health", service, *extra],
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_health_follows_a_running_service(cluster: Cluster) -> None:
    settings = CommonSettings(redis_url=cluster.redis_url)
    host = socket.gethostname()
    assert health_command("janitor", cluster.redis_url).returncode == UNHEALTHY  # not started yet
    janitor = cluster.start("janitor", CONCURRENCY="1")
    deadline = time.monotonic() + 30
    while not (verdict := await asyncio.to_thread(probe, "janitor", host, settings)).healthy:
        assert janitor.alive(), janitor.output()
        assert time.monotonic() < deadline, verdict.reason
        await asyncio.sleep(0.2)

    done = await asyncio.to_thread(health_command, "janitor", cluster.redis_url)
    assert done.returncode == HEALTHY, done.stdout + done.stderr
    assert re.search(rf"janitor-{re.escape(host)}-[0-9a-f]{{6}}-{janitor.pid}", done.stdout), done.stdout
    other_host = await asyncio.to_thread(health_command, "janitor", cluster.redis_url, "--host", "elsewhere")
    assert other_host.returncode == UNHEALTHY  # another container's health is not this one's
    assert (await asyncio.to_thread(health_command, "imaging", cluster.redis_url)).returncode == UNHEALTHY

    # The same process, but the consumer group it should read from does not exist.
    redis = Redis.from_url(cluster.redis_url, decode_responses=True)
    try:
        gone = QueueSpec(QUEUES[Queue.DEFAULT].queue, group="janitor-gone")
        verdict = await asyncio.to_thread(check, redis, "janitor", gone, host)
        assert not verdict.healthy
        assert "janitor-gone" in verdict.reason
    finally:
        redis.close()

    assert janitor.stop() == 0, janitor.output()[-6000:]  # a stop that timed out shows where it waited
    stopped = await asyncio.to_thread(health_command, "janitor", cluster.redis_url)
    assert stopped.returncode == UNHEALTHY, stopped.stdout


async def test_a_killed_service_turns_unhealthy_when_its_liveness_expires(cluster: Cluster) -> None:
    """kill -9 leaves the presence record behind for a while; the liveness key expires first."""
    settings = CommonSettings(redis_url=cluster.redis_url)
    host = socket.gethostname()
    janitor = cluster.start("janitor", CONCURRENCY="1", LIVENESS_TTL_S="2", HEARTBEAT_INTERVAL_S="5")
    deadline = time.monotonic() + 30
    while not (await asyncio.to_thread(probe, "janitor", host, settings)).healthy:
        assert time.monotonic() < deadline, janitor.output()
        await asyncio.sleep(0.2)
    cluster.kill(janitor)
    deadline = time.monotonic() + 6
    while (verdict := await asyncio.to_thread(probe, "janitor", host, settings)).healthy:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    assert "lives" in verdict.reason or "presence" in verdict.reason


def test_every_worker_service_names_its_queue_and_unknown_ones_are_usage_errors() -> None:
    assert {queue_of(spec.group) for spec in QUEUES.values()} == set(QUEUES.values())
    done = health_command("nonesuch", "redis://127.0.0.1:1/0")
    assert done.returncode == USAGE
    unreachable = health_command("janitor", "redis://127.0.0.1:1/0")
    assert unreachable.returncode == UNHEALTHY
    assert "unreachable" in unreachable.stdout


def test_a_failed_liveness_beat_is_tried_again_soon(tmp_path: Path) -> None:
    """A beat that fails (Redis away, the machine stalled) is tried again within a fraction of a second, not
    a whole interval later: the key may be about to lapse."""
    server = LocalRedis(tmp_path / "redis")
    beacon = LivenessBeacon(server.url, "w-retry", interval_s=30.0, ttl_s=60.0)
    beacon.start()  # its first beat fails: nothing listens yet
    try:
        server.start()
        client = Redis.from_url(server.url)
        deadline = time.monotonic() + 10
        while not client.exists(keys.alive("w-retry")):
            assert time.monotonic() < deadline, (
                "no beat after the failed one within 10 s (the interval is 30 s)"
            )
            time.sleep(0.05)
        client.close()
    finally:
        beacon.stop()
        server.stop()


def test_a_failed_beat_in_the_running_loop_is_tried_again_soon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After beats that landed, a beat of the running loop that fails (Redis away) is tried again within a
    fraction of a second too, not a whole interval later."""
    interval_s = 5.0
    key = keys.alive("w-loop-retry")
    caplog.set_level(logging.DEBUG, logger="mediajobs.liveness")
    server = LocalRedis(tmp_path / "redis", persistent=False)  # comes back empty: a new key is a new beat
    server.start()
    beacon = LivenessBeacon(server.url, "w-loop-retry", interval_s=interval_s, ttl_s=60.0)
    beacon.start()
    try:
        with Redis.from_url(server.url) as client:
            assert client.exists(key)  # the first beat landed: the loop's next one is a whole interval away
        caplog.clear()
        server.stop()
        deadline = time.monotonic() + interval_s + 10
        while not any(r.getMessage().startswith("liveness beat failed") for r in caplog.records):
            assert time.monotonic() < deadline, "the loop's beat never failed with Redis away"
            time.sleep(0.05)
        server.start()
        back = time.monotonic()
        with Redis.from_url(server.url) as client:
            while not client.exists(key):
                waited = time.monotonic() - back
                assert waited < interval_s / 2, (
                    f"no beat within {waited:.1f} s of Redis coming back (the interval is {interval_s:g} s)"
                )
                time.sleep(0.05)
    finally:
        beacon.stop()
        server.stop()
