"""Blocking conveniences for scripts and synchronous applications (the seed's API).

Each call opens and closes its own connection; inside async code use `JobClient` instead.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import redis

from jobcommon import keys
from jobcommon.client import JobClient
from jobcommon.errors import JobNotFound
from jobcommon.models import Job
from jobcommon.requests import DownloadOptions, VideoDownloadRequest
from jobcommon.settings import CommonSettings


def submit_video_download(
    url: str, options: dict[str, Any] | None = None, *, settings: CommonSettings | None = None
) -> str:
    """Submit a `video_download` job and return its task id."""
    request = VideoDownloadRequest(url=url, options=DownloadOptions.model_validate(options or {}))

    async def submit() -> str:
        async with JobClient(settings) as client:
            return (await client.submit(request)).job.task_id

    return asyncio.run(submit())


def get_task_progress(task_id: str, *, settings: CommonSettings | None = None) -> dict[str, Any]:
    """The job's latest progress (`percent`, `message`, ...) plus its `status`; raises JobNotFound."""
    settings = settings or CommonSettings()
    with redis.Redis.from_url(settings.redis_url, decode_responses=True) as client:
        fields = cast("dict[str, str]", client.hgetall(keys.job(task_id)))
    if not fields:
        raise JobNotFound(task_id)
    job = Job.from_hash(fields)
    return {**job.progress.model_dump(mode="json"), "status": job.status.value}
