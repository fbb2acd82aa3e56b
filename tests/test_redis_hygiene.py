"""Redis hygiene: after jobs of every ending, nothing is left pending and nothing lives forever.

The test makes its own jobs (succeeded, failed, retried then succeeded, dead-lettered, cancelled while
running), so it proves the same wherever it runs in the suite; it then waits until no job of any earlier
test is active either, and checks every queue and every key.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from redis.asyncio import Redis

from jobcommon import QUEUES, keys
from tests.jobs import submit, wait_for, wait_terminal

QUICK_RETRY: dict[str, Any] = {"backoff_base_s": 0.1, "backoff_cap_s": 0.2}
ENDINGS: list[tuple[dict[str, Any], str]] = [
    ({"job_type": "echo", "payload": {"hygiene": 1}}, "succeeded"),
    ({"job_type": "echo", "fail_with": "no"}, "failed"),
    (
        {
            "job_type": "echo",
            "fail_with": "once",
            "fail_kind": "transient",
            "fail_attempts": 1,
            "retry": QUICK_RETRY,
        },
        "succeeded",
    ),
    (
        {
            "job_type": "echo",
            "fail_with": "always",
            "fail_kind": "transient",
            "retry": {**QUICK_RETRY, "max_attempts": 2},
        },
        "failed",
    ),
    ({"job_type": "echo", "sleep_s": 30}, "cancelled"),
]


async def _active(api: httpx.AsyncClient) -> list[dict[str, object]]:
    return [
        job
        for status in ("queued", "running", "retrying")
        for job in (await api.get("/jobs/list", params={"status": status, "limit": 500})).json()["jobs"]
    ]


async def test_nothing_pending_and_every_job_key_expires(api: httpx.AsyncClient, redis: Redis) -> None:
    """Once no job is active, no delivery is pending, every queue is empty and every key has a TTL."""
    jobs = [await submit(api, body) for body, _ending in ENDINGS]
    running = jobs[-1]["task_id"]
    await wait_for(api, running, lambda j: j["status"] == "running")
    assert (await api.post(f"/jobs/{running}/cancel")).status_code == 202
    finals = [await wait_terminal(api, job["task_id"]) for job in jobs]
    assert [f["status"] for f in finals] == [ending for _body, ending in ENDINGS]

    for _ in range(100):  # stragglers of earlier tests, if any, finish too
        if not (active := await _active(api)):
            break
        await asyncio.sleep(0.2)
    assert active == []
    streams = {stream for spec in QUEUES.values() for stream in spec.lanes.values()}
    for spec in QUEUES.values():
        for stream in spec.lanes.values():
            pending = await redis.xpending(stream, spec.group)
            assert pending["pending"] == 0, (stream, pending)
            assert await redis.xlen(stream) == 0, stream
    # API keys are configuration: they live until revoked; revocations outlive them (API_KEYS_FILE)
    durable = {keys.API_KEYS, keys.REVOKED_API_KEYS}
    async for key in redis.scan_iter(match=f"{keys.PREFIX}:*", count=500):
        if key in streams or key in durable or key.startswith(keys.api_key("")):
            continue
        assert await redis.pttl(key) != -1, f"{key} never expires"  # -2: it expired meanwhile
