"""Delayed jobs (issue 15): `run_at` / `delay_s` keep a job `scheduled` until then; it runs once, never early,
and can be cancelled while it waits. Through the gateway, against the running stack."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis

from jobcommon import keys
from tests.jobs import status, submit, wait_for, wait_terminal


async def test_a_delayed_job_waits_scheduled_then_runs_once(api: httpx.AsyncClient, redis: Redis) -> None:
    job = await submit(api, {"job_type": "echo", "delay_s": 2.0, "payload": {"later": True}})
    assert job["status"] == "scheduled"
    due = datetime.fromisoformat(job["next_attempt_at"])
    created = datetime.fromisoformat(job["created_at"])
    assert timedelta(seconds=1.9) <= due - created <= timedelta(seconds=2.1)
    assert await redis.zscore(keys.DELAYED, job["task_id"]) is not None  # its message waits aside
    await asyncio.sleep(1.0)
    assert (await status(api, job["task_id"]))["status"] == "scheduled"
    listed = (await api.get("/jobs/list", params={"status": "scheduled"})).json()
    assert job["task_id"] in {j["task_id"] for j in listed["jobs"]}
    done = await wait_terminal(api, job["task_id"], timeout=30)
    assert done["status"] == "succeeded"
    assert done["attempts"] == 1
    assert done["result"] == {"payload": {"later": True}}
    started = datetime.fromisoformat(done["started_at"])
    assert started - created >= timedelta(seconds=2.0), "ran early"
    assert started - created <= timedelta(seconds=10), "ran much later than due"


async def test_run_at_in_the_past_runs_at_once_and_in_the_future_waits(api: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    past = await submit(api, {"job_type": "echo", "run_at": (now - timedelta(minutes=5)).isoformat()})
    assert past["status"] == "queued"
    future = await submit(api, {"job_type": "echo", "run_at": (now + timedelta(hours=1)).isoformat()})
    assert future["status"] == "scheduled"
    assert datetime.fromisoformat(future["next_attempt_at"]) == now + timedelta(hours=1)
    assert (await wait_terminal(api, past["task_id"]))["status"] == "succeeded"
    cancelled = await api.post(f"/jobs/{future['task_id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text


async def test_a_scheduled_job_cancelled_before_it_is_due_never_runs(
    api: httpx.AsyncClient, redis: Redis
) -> None:
    job = await submit(api, {"job_type": "echo", "delay_s": 1.0})
    answer = await api.post(f"/jobs/{job['task_id']}/cancel")
    assert answer.status_code == 202, answer.text
    assert (answer.json()["status"], answer.json()["next_attempt_at"]) == ("cancelled", None)  # it never will
    assert await redis.zscore(keys.DELAYED, job["task_id"]) is None
    assert not await redis.exists(keys.parked(job["task_id"]))
    await asyncio.sleep(2.0)  # past its time
    final = await status(api, job["task_id"])
    assert (final["status"], final["attempts"], final["started_at"], final["next_attempt_at"]) == (
        "cancelled",
        0,
        None,
        None,
    )


async def test_bad_start_times_are_refused_with_a_reason(api: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"run_at": now.isoformat(), "delay_s": 5}, "not both"),
        ({"run_at": (now + timedelta(days=31)).isoformat()}, "30 days"),
        ({"run_at": "2030-01-01T00:00:00"}, "timezone"),
        ({"delay_s": 0}, "greater than 0"),
        ({"delay_s": 31 * 86400}, "less than or equal"),
        ({"then": [{"job_type": "echo", "delay_s": 5}]}, "follow-up starts when its parent succeeds"),
    ]
    for fields, reason in cases:
        answer = await api.post("/jobs/submit", json={"job_type": "echo", **fields})
        assert answer.status_code == 422, (fields, answer.text)
        assert reason in answer.text, (fields, answer.text)


async def test_scheduled_jobs_are_counted_and_their_record_outlives_the_wait(
    api: httpx.AsyncClient, redis: Redis
) -> None:
    """A job scheduled a day ahead must not expire before it is due (records of waiting jobs live 24 h)."""
    job = await submit(api, {"job_type": "echo", "delay_s": 2 * 86400})
    ttl = await redis.ttl(keys.job(job["task_id"]))
    assert ttl > 2 * 86400, ttl
    assert await redis.ttl(keys.parked(job["task_id"])) > 2 * 86400
    counts = (await api.get("/jobs/counts")).json()
    assert counts["counts"]["scheduled"] >= 1, counts
    await api.post(f"/jobs/{job['task_id']}/cancel")
    await wait_for(api, job["task_id"], lambda j: j["status"] == "cancelled")
