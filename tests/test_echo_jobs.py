"""Echo jobs through the gateway and the janitor process: the job life cycle without media."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from redis.asyncio import Redis

from gateway.task_id_path import RESERVED
from tests.conftest import Stack
from tests.jobs import sse_events, status, submit, wait_for, wait_terminal


async def test_echo_succeeds_with_progress_and_result(api: httpx.AsyncClient) -> None:
    """An echo job streams progress then its terminal status over SSE and returns its payload."""
    job = await submit(api, {"job_type": "echo", "payload": {"hello": "world", "n": 3}, "sleep_s": 1.0})
    assert job["status"] == "queued"
    assert job["queue"] == "default"
    events = await sse_events(api, job["task_id"])
    kinds = [kind for kind, _ in events]
    assert kinds.count("progress") >= 2, kinds
    assert events[-1][0] == "status"
    assert events[-1][1]["status"] == "succeeded"
    percents = [j["progress"]["percent"] for kind, j in events if kind == "progress"]
    assert percents == sorted(percents)
    result = await api.get(f"/jobs/{job['task_id']}/result")
    assert result.status_code == 200
    assert result.json()["result"] == {"payload": {"hello": "world", "n": 3}}
    final = await status(api, job["task_id"])
    assert final["attempts"] == 1
    assert final["progress"]["percent"] == 100.0
    assert final["started_at"] is not None
    assert final["finished_at"] >= final["started_at"]


async def test_handler_error_fails_job_with_reason(api: httpx.AsyncClient) -> None:
    """A handler's PermanentError fails the job with its type and message; /result answers 409."""
    job = await submit(api, {"job_type": "echo", "fail_with": "the canary is unhappy"})
    final = await wait_terminal(api, job["task_id"])
    assert final["status"] == "failed"
    assert final["error"] == {"type": "EchoFailed", "message": "the canary is unhappy"}
    result = await api.get(f"/jobs/{job['task_id']}/result")
    assert result.status_code == 409
    assert result.json()["job_status"] == "failed"


async def test_cancel_running_job_within_a_second(api: httpx.AsyncClient) -> None:
    """Cancelling a running job ends it as cancelled within a second."""
    job = await submit(api, {"job_type": "echo", "sleep_s": 30})
    await wait_for(api, job["task_id"], lambda j: j["status"] == "running")
    started = asyncio.get_running_loop().time()
    response = await api.post(f"/jobs/{job['task_id']}/cancel")
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True
    final = await wait_terminal(api, job["task_id"], timeout=5)
    assert final["status"] == "cancelled"
    assert asyncio.get_running_loop().time() - started < 1.0
    again = await api.post(f"/jobs/{job['task_id']}/cancel")
    assert again.status_code == 409
    assert again.json()["job_status"] == "cancelled"


async def test_queued_job_cancelled_never_runs(api: httpx.AsyncClient, stack: Stack) -> None:
    """A job cancelled while queued never runs."""
    # Fill the janitor's worker slots so the next job has to wait in the queue.
    blockers = [await submit(api, {"job_type": "echo", "sleep_s": 3}) for _ in range(4)]
    waiting = await submit(api, {"job_type": "echo", "payload": {"must": "not run"}})
    response = await api.post(f"/jobs/{waiting['task_id']}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    for blocker in blockers:
        await wait_terminal(api, blocker["task_id"])
    final = await status(api, waiting["task_id"])
    assert final["status"] == "cancelled"
    assert final["attempts"] == 0
    assert final["started_at"] is None


async def test_finished_job_cannot_be_cancelled(api: httpx.AsyncClient) -> None:
    """Cancelling a finished job answers 409 and leaves it as it was."""
    job = await submit(api, {"job_type": "echo"})
    await wait_terminal(api, job["task_id"])
    response = await api.post(f"/jobs/{job['task_id']}/cancel")
    assert response.status_code == 409
    assert response.json()["job_status"] == "succeeded"
    assert (await status(api, job["task_id"]))["status"] == "succeeded"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"job_type": "transcode", "url": "http://example.com/a.mp4"},
            "does not match any of the expected tags",
        ),
        ({"url": "http://example.com/a.mp4"}, "job_type"),
        ({"job_type": "video_download", "url": "ftp://example.com/a.mp4"}, "only http and https"),
        ({"job_type": "video_download", "url": "file:///etc/passwd"}, "only http and https"),
        ({"job_type": "video_download"}, "url"),
        ({"job_type": "video_download", "url": "http://x/a", "options": {"bogus": 1}}, "bogus"),
        ({"job_type": "echo", "sleep_s": -1}, "sleep_s"),
    ],
)
async def test_bad_submissions_get_422_with_reason(
    api: httpx.AsyncClient, body: dict[str, object], needle: str
) -> None:
    """Bad submissions answer 422 naming what is wrong."""
    response = await api.post("/jobs/submit", json=body)
    assert response.status_code == 422
    assert needle in response.text


async def test_malformed_json_is_422(api: httpx.AsyncClient) -> None:
    """A body that is not JSON answers 422."""
    response = await api.post(
        "/jobs/submit", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize("path", ["status", "progress", "result", "events"])
async def test_unknown_task_is_404(api: httpx.AsyncClient, path: str) -> None:
    """Every endpoint answers 404 for an unknown task id."""
    response = await api.get(f"/jobs/0123456789abcdef/{path}")
    assert response.status_code == 404
    assert "no job" in response.json()["detail"]


async def test_cancel_unknown_task_is_404(api: httpx.AsyncClient) -> None:
    """Cancelling an unknown task id answers 404."""
    assert (await api.post("/jobs/nope/cancel")).status_code == 404


async def test_progress_endpoint(api: httpx.AsyncClient) -> None:
    """/progress shows a running job's latest progress and status."""
    job = await submit(api, {"job_type": "echo", "sleep_s": 2})
    running = await wait_for(api, job["task_id"], lambda j: (j["progress"]["percent"] or 0) > 0)
    response = await api.get(f"/jobs/{job['task_id']}/progress")
    body = response.json()
    assert body["status"] == "running"
    assert body["percent"] >= running["progress"]["percent"]
    assert "slept" in body["message"]
    await wait_terminal(api, job["task_id"])


async def test_list_filters_and_paginates(api: httpx.AsyncClient) -> None:
    """/jobs/list filters by type and status, pages newest first, and counts every queue."""
    jobs = [await submit(api, {"job_type": "echo", "payload": {"i": i}}) for i in range(5)]
    failed = await submit(api, {"job_type": "echo", "fail_with": "x"})
    for job in [*jobs, failed]:
        await wait_terminal(api, job["task_id"])
    page = (await api.get("/jobs/list", params={"job_type": "echo", "limit": 3})).json()
    assert len(page["jobs"]) == 3
    assert page["jobs"][0]["task_id"] == failed["task_id"]  # newest first
    assert page["next_offset"] is not None
    following = (
        await api.get("/jobs/list", params={"job_type": "echo", "limit": 3, "offset": page["next_offset"]})
    ).json()
    first_ids = {j["task_id"] for j in page["jobs"]}
    assert not first_ids & {j["task_id"] for j in following["jobs"]}
    only_failed = (await api.get("/jobs/list", params={"status": "failed", "limit": 500})).json()
    assert failed["task_id"] in {j["task_id"] for j in only_failed["jobs"]}
    assert all(j["status"] == "failed" for j in only_failed["jobs"])
    assert set(page["queues"]) == {"video_downloads", "metadata", "image_processing", "default"}
    bad = await api.get("/jobs/list", params={"status": "exploded"})
    assert bad.status_code == 422


async def test_health_reports_redis_queues_and_services(api: httpx.AsyncClient) -> None:
    """/health measures a real Redis round trip and reports disk, queues and live services."""
    started = time.perf_counter()
    health = (await api.get("/jobs/health")).json()
    request_ms = (time.perf_counter() - started) * 1000
    assert health["status"] == "ok"
    assert health["redis"]["reachable"] is True
    assert 0 < health["redis"]["latency_ms"] <= request_ms  # a real ping, in ms, within this request
    assert health["disk"]["free_bytes"] > 0
    assert health["disk"]["total_bytes"] >= health["disk"]["free_bytes"]
    assert health["queues"]["video_downloads"]["workers"] >= 1
    assert health["queues"]["default"]["workers"] >= 1
    assert {"downloader", "janitor"} <= {s["service"] for s in health["services"]}


async def test_openapi_docs(api: httpx.AsyncClient) -> None:
    """The API docs and the OpenAPI spec are served."""
    assert (await api.get("/docs")).status_code == 200
    spec = (await api.get("/openapi.json")).json()
    assert "/jobs/submit" in spec["paths"]
    assert "/jobs/{task_id}/events" in spec["paths"]
    # /jobs/{task_id}/... is tried first: a route of another router under /jobs/<name>/... must have <name>
    # in the task id convertor's reserved names, or the task routes would take its requests
    under_jobs = [p for p in spec["paths"] if p.startswith("/jobs/") and p.count("/") >= 3]
    assert {p.split("/")[2] for p in under_jobs if not p.startswith("/jobs/{task_id}/")} == set(RESERVED)


async def test_events_leave_the_request_out(api: httpx.AsyncClient, redis: Redis) -> None:
    """Every published change omits the (unchanging, possibly large) request; the SSE stream still has it."""
    payload = {"big": "x" * 20_000}
    pubsub = redis.pubsub()
    job = await submit(api, {"job_type": "echo", "sleep_s": 1.0, "payload": payload})
    await pubsub.subscribe(f"mj:events:{job['task_id']}")
    seen = await sse_events(api, job["task_id"])
    published = []
    for _ in range(50):  # drain what arrived while the stream was read
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None:
            published.append(str(message["data"]))
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert published, "changes are announced"
    assert all(len(data) < 5_000 and '"request"' not in data for data in published)
    assert all(data["request"]["payload"] == payload for _name, data in seen)
    assert seen[-1][1]["status"] == "succeeded"
