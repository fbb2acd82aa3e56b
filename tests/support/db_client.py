"""A `JobClient` on a Redis database of its own, emptied before and after, with the consumer groups of the
given queues made (for tests that play the worker's part by hand)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from jobcommon import CommonSettings, JobClient
from jobcommon.broker import ensure_groups

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from jobcommon.queues import QueueSpec


@asynccontextmanager
async def client_on_db(
    redis_url: str, settings: CommonSettings, db: int, queues: Sequence[QueueSpec]
) -> AsyncIterator[JobClient]:
    url = redis_url.rsplit("/", 1)[0] + f"/{db}"
    raw = Redis.from_url(url)
    await raw.flushdb()
    async with JobClient(settings.model_copy(update={"redis_url": url})) as jobs:
        await ensure_groups(jobs.redis, list(queues))
        yield jobs
    await raw.flushdb()
    await raw.aclose()
