"""Test helpers that talk to the gateway like a user would."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from httpx_sse import aconnect_sse


async def submit(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/jobs/submit", json=body)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


async def status(api: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await api.get(f"/jobs/{task_id}/status")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def wait_for(
    api: httpx.AsyncClient, task_id: str, predicate: Any, timeout: float = 30.0, poll: float = 0.05
) -> dict[str, Any]:
    """Poll the job until `predicate(job)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        job = await status(api, task_id)
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting on job {task_id}: {job}")
        await asyncio.sleep(poll)


async def wait_terminal(api: httpx.AsyncClient, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
    return await wait_for(
        api, task_id, lambda j: j["status"] in {"succeeded", "failed", "cancelled"}, timeout
    )


async def sse_events(
    api: httpx.AsyncClient, task_id: str, timeout: float = 60.0
) -> list[tuple[str, dict[str, Any]]]:
    """Read the job's event stream to its end: [(event name, job), ...]."""
    events: list[tuple[str, dict[str, Any]]] = []
    async with asyncio.timeout(timeout), aconnect_sse(api, "GET", f"/jobs/{task_id}/events") as source:
        assert source.response.status_code == 200
        async for sse in source.aiter_sse():
            events.append((sse.event, json.loads(sse.data)))
    return events
