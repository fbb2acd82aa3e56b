"""JobClient and the seed's sync conveniences, against real Redis and a real janitor process."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from jobcommon import CommonSettings, ErrorInfo, Job, JobClient, JobStatus, keys, middleware
from jobcommon.policies import policy_for
from jobcommon.sync import get_task_progress, submit_video_download
from tests.conftest import service_env
from tests.support.httpserver import MediaServer
from tests.support.otlp import OtlpReceiver
from tools.procs import ServiceProcess


def _other_db(redis_url: str, db: int) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{db}"


async def test_job_submitted_before_service_ever_started_still_runs(
    redis_url: str, media_root: Path, otlp: OtlpReceiver
) -> None:
    """FastStream would create the group at `$` and skip it; the client creates it at `0` first."""
    url = _other_db(redis_url, 7)
    fresh = Redis.from_url(url)
    await fresh.flushdb()
    await fresh.aclose()
    settings = CommonSettings(redis_url=url, media_root=media_root)
    async with JobClient(settings) as client:
        job = (await client.submit({"job_type": "echo", "payload": {"early": True}})).job
        await asyncio.sleep(0.5)
        assert (await client.get(job.task_id)).status == JobStatus.QUEUED
        janitor = ServiceProcess("janitor", service_env(url, media_root, otlp))
        janitor.start()
        try:
            final = await client.wait(job.task_id, timeout=30)
        finally:
            janitor.stop()
        assert final.status == JobStatus.SUCCEEDED, janitor.output()
        assert final.result == {"payload": {"early": True}}


async def test_client_wait_and_events(settings: CommonSettings, stack: object) -> None:
    async with JobClient(settings) as client:
        job = (await client.submit({"job_type": "echo", "sleep_s": 0.5, "payload": {"x": 1}})).job
        kinds = [event.kind async for event in client.events(job.task_id)]
        assert kinds[0] == "status"
        assert "progress" in kinds
        final = await client.wait(job.task_id, timeout=10)
        assert final.status == JobStatus.SUCCEEDED
        slow = (await client.submit({"job_type": "echo", "sleep_s": 5})).job
        with pytest.raises(TimeoutError):
            await client.wait(slow.task_id, timeout=0.3)
        await client.cancel(slow.task_id)


async def test_sync_conveniences(settings: CommonSettings, stack: object, media_server: MediaServer) -> None:
    url = media_server.url("missing.mp4")
    task_id = await asyncio.to_thread(
        submit_video_download, url, options={"format": "best"}, settings=settings
    )
    progress = await asyncio.to_thread(get_task_progress, task_id, settings=settings)
    assert {"percent", "message", "status"} <= set(progress)
    async with JobClient(settings) as client:
        final = await client.wait(task_id, timeout=60)
    assert final.status == JobStatus.FAILED  # 404: permanent, not retried
    assert final.attempts == 1
    assert final.request["options"]["format"] == "best"
    assert (await asyncio.to_thread(get_task_progress, task_id, settings=settings))["status"] == "failed"


async def test_every_key_is_prefixed(redis: Redis) -> None:
    assert keys.job("x").startswith(keys.PREFIX + ":")
    assert keys.stream("default").startswith(keys.PREFIX + ":")


async def test_a_job_stored_before_a_rule_tightened_is_not_retried_into_limbo(
    settings: CommonSettings,
) -> None:
    """A failed job whose stored request no longer validates (a time limit under 1 s, allowed once) is not
    retried: the retry is refused (422 through the API) and the job stays failed, instead of being reset to
    queued with no message that could ever run it; a bulk retry passes over it. A worker that meets such a
    job does not crash on its overrides either: the job type's own policy applies (its handler then fails
    the job for good, InvalidJobMessage)."""
    task_id = uuid.uuid4().hex
    request = {"job_type": "echo", "time_limit": {"soft_limit_s": 0.5}}
    async with JobClient(settings) as client:
        old = Job(
            task_id=task_id,
            job_type="echo",
            queue="default",
            status=JobStatus.FAILED,
            created_at=datetime.now(UTC),
            request=request,
            max_attempts=1,
            error=ErrorInfo(type="Boom", message="failed before the upgrade"),
        )
        await client.store.create(old)
        with pytest.raises(ValidationError, match="at least 1 s"):
            await client.retry(task_id)
        assert await client.retry_many([task_id]) == []
        assert (await client.get(task_id)).status == JobStatus.FAILED
        assert middleware._policy(old) == policy_for("echo", None, None)
