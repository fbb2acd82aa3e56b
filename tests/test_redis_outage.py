"""A Redis that stops answering (SIGSTOP on a private redis-server: frozen, its connections still open).

The gateway answers every request within seconds meanwhile (health 503 for a load balancer's probe, other
routes a 503 problem with Retry-After), and works again once Redis does, without a restart; a worker's
running job is not taken from it and run again because nobody could renew its lease while Redis was frozen;
progress writes that fail leave no unretrieved task exception behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from jobcommon import CommonSettings
from jobcommon.models import Progress
from jobcommon.progress import ProgressReporter
from jobcommon.store import JobStore, Transition
from tests.conftest import service_env
from tests.support.otlp import OtlpReceiver
from tools.localredis import LocalRedis, free_port
from tools.procs import ServiceProcess

if TYPE_CHECKING:
    from collections.abc import Callable

HEALTH_BOUND_S = 3.0
"""A load balancer's probe must have its answer within this, Redis frozen or not."""
REQUEST_BOUND_S = 5.0
"""Any other request: its 503 within a few seconds, never a hang."""


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[LocalRedis]:
    """A redis-server of this test's own: freezing it stops nobody else's tests."""
    server = LocalRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        thaw(server)
        server.stop(kill=True)


def freeze(server: LocalRedis) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)


def thaw(server: LocalRedis) -> None:
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)


@contextlib.contextmanager
def frozen(server: LocalRedis) -> Iterator[None]:
    freeze(server)
    try:
        yield
    finally:
        thaw(server)


@contextlib.asynccontextmanager
async def started(module: str, env: dict[str, str]) -> AsyncIterator[ServiceProcess]:
    proc = ServiceProcess(module, env)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(timeout=15)


async def eventually(check: Callable[[], Any], timeout: float, what: str, proc: ServiceProcess) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if (found := await check()) is not None:
                return found
        assert proc.alive(), proc.output()[-4000:]
        assert time.monotonic() < deadline, f"{what} not within {timeout} s\n{proc.output()[-4000:]}"
        await asyncio.sleep(0.2)


async def timed_get(api: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    response = await api.get(path)
    return response, time.monotonic() - began


async def test_the_gateway_answers_503_at_once_while_redis_is_frozen_and_recovers(
    private_redis: LocalRedis, tmp_path: Path, otlp: OtlpReceiver
) -> None:
    port = free_port()
    env = service_env(private_redis.url, tmp_path / "media", otlp, GATEWAY_PORT=str(port), AUTH="off")
    async with (
        started("gateway", env) as gateway,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as api,
    ):

        async def healthy() -> bool | None:
            return True if (await api.get("/jobs/health")).status_code == 200 else None

        await eventually(healthy, 30, "the gateway serving", gateway)
        # no worker runs: the job stays queued, a record to read
        submitted = await api.post("/jobs/submit", json={"job_type": "echo", "payload": {"n": 1}})
        assert submitted.status_code == 202, submitted.text
        task_id = submitted.json()["task_id"]

        with frozen(private_redis):
            for _ in range(2):  # the first on pooled connections, the second on fresh ones
                health, took = await timed_get(api, "/jobs/health")
                assert health.status_code == 503, health.text
                assert took < HEALTH_BOUND_S, f"health answered after {took:.1f} s"
                assert health.json()["status"] == "unavailable"
                assert health.headers["retry-after"] == "5"
            for path in (f"/jobs/{task_id}/status", "/jobs/list?limit=1"):
                answer, took = await timed_get(api, path)
                assert answer.status_code == 503, answer.text
                assert took < REQUEST_BOUND_S, f"{path} answered after {took:.1f} s"
                assert answer.headers["content-type"] == "application/problem+json"
                assert "unavailable" in answer.json()["detail"]
                assert answer.headers["retry-after"] == "5"
            began = time.monotonic()
            refused = await api.post("/jobs/submit", json={"job_type": "echo", "payload": {"n": 2}})
            assert refused.status_code == 503, refused.text
            assert time.monotonic() - began < REQUEST_BOUND_S

        await eventually(healthy, 30, "health answering 200 again", gateway)
        status = await api.get(f"/jobs/{task_id}/status")
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "queued"
        again = await api.post("/jobs/submit", json={"job_type": "echo", "payload": {"n": 3}})
        assert again.status_code == 202, again.text


LEASE_S = 3.0
FROZEN_S = 2 * LEASE_S
"""Longer than the lease (every delivery's idle time is past it when Redis wakes), shorter than a worker's
patience with one command (REDIS_TIMEOUT_S, 15 s): the worker's check-in in flight is answered then."""


async def test_a_live_workers_job_is_not_reclaimed_after_redis_was_frozen_longer_than_the_lease(
    private_redis: LocalRedis, tmp_path: Path, otlp: OtlpReceiver
) -> None:
    """The janitor runs echo jobs and reclaims (its own upkeep every lease/3, its reclaim duty every second
    here): with Redis frozen for two leases, its running job's delivery is idle past the lease when Redis
    wakes, yet the job goes on in the same run and succeeds on its first attempt."""
    from jobcommon import JobClient

    settings = CommonSettings(redis_url=private_redis.url, media_root=tmp_path / "media")
    env = service_env(
        private_redis.url,
        settings.media_root,
        otlp,
        CONCURRENCY="1",
        LEASE_S=str(LEASE_S),
        LIVENESS_INTERVAL_S="0.2",
        LIVENESS_TTL_S="0.8",
        JANITOR_RECLAIM_INTERVAL_S="1",
    )
    async with started("janitor", env) as janitor, JobClient(settings) as client:
        created = await client.submit({"job_type": "echo", "sleep_s": FROZEN_S + 8, "step_s": 0.2})
        task_id = created.job.task_id

        async def running() -> bool | None:
            return True if (await client.get(task_id)).status == "running" else None

        await eventually(running, 60, "the job running", janitor)
        await asyncio.sleep(LEASE_S / 2)  # renewed at least once: a steady run, then the freeze
        with frozen(private_redis):
            await asyncio.sleep(FROZEN_S)

        async def ended() -> Any:
            job = await client.get(task_id)
            return job if job.status.terminal else None

        job = await eventually(ended, 60, "the job ending", janitor)
        logs = janitor.output()
        assert job.status == "succeeded", logs[-4000:]
        assert job.attempts == 1, logs[-4000:]
        assert "reclaimed" not in logs, logs[-4000:]
        assert logs.count(f"start job={task_id}") == 1, logs[-4000:]


class FlakyStore:
    """A job store whose progress writes fail while `down` (Redis away), recording what lands otherwise."""

    def __init__(self) -> None:
        self.down = True
        self.stored: list[Progress] = []

    async def report_progress(self, task_id: str, progress: Progress, run_id: str = "") -> Transition:
        if self.down:
            raise RedisConnectionError("Redis is away")
        self.stored.append(progress)
        return Transition(applied=True, job=None, status=None)


async def test_a_failed_progress_write_is_neither_an_unretrieved_task_error_nor_lost() -> None:
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    try:
        store = FlakyStore()
        reporter = ProgressReporter(cast("JobStore", store), "job-1", interval=0.05, run_id="run-1")
        await reporter.update(10, "first")  # written at once: fails, but the handler goes on
        await reporter.update(20, "second")  # inside the window: written by a timer task, which fails
        await asyncio.sleep(0.3)
        gc.collect()  # a dropped task's unretrieved exception is reported when it is collected
        assert not unhandled, unhandled
        assert store.stored == []
        store.down = False
        await reporter.flush()  # the job ends: the latest held update lands
        assert [p.message for p in store.stored] == ["second"]
    finally:
        loop.set_exception_handler(previous)
