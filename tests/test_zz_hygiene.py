"""Runs last: after everything above, Redis holds nothing that lives forever and nothing left pending."""

from __future__ import annotations

import asyncio

import httpx
from redis.asyncio import Redis

from jobcommon import QUEUES, keys


async def test_nothing_pending_and_every_job_key_expires(api: httpx.AsyncClient, redis: Redis) -> None:
    for _ in range(100):  # let stragglers from earlier tests finish
        active = [
            j
            for status in ("queued", "running", "retrying")
            for j in (await api.get("/jobs/list", params={"status": status, "limit": 500})).json()["jobs"]
        ]
        if not active:
            break
        await asyncio.sleep(0.2)
    assert active == []
    for spec in QUEUES.values():
        pending = await redis.xpending(spec.stream, spec.group)
        assert pending["pending"] == 0, (spec.queue, pending)
        assert await redis.xlen(spec.stream) == 0, spec.queue
    streams = {spec.stream for spec in QUEUES.values()}
    async for key in redis.scan_iter(match=f"{keys.PREFIX}:*", count=500):
        if key in streams:
            continue
        assert await redis.ttl(key) > 0, f"{key} never expires"
