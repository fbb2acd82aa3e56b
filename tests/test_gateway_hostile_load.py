"""The gateway under hostile load, in-process on a Redis of its own: a body with tens of thousands of unknown
fields (or one huge value) gets a small 422 listing the first errors and how many more; a burst that keeps
every pooled connection to Redis in use gets a 503 that says the gateway is busy, not that the job store is
unavailable; an `Idempotency-Key` sent twice is a 422; a 429 says the wait its Retry-After says."""

from __future__ import annotations

import json
import logging
import time
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from gateway.app import create_app
from gateway.json_body import MAX_MEMBERS
from gateway.problems import BUSY_TYPE, MAX_ERRORS
from gateway.settings import GatewaySettings
from jobcommon.errors import TooManySubmissions
from tests.test_redis_outage import private_redis

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from fastapi import FastAPI

    from tools.localredis import LocalRedis

__all__ = ["private_redis"]  # the fixture, used by name

SMALL_ANSWER = 16 * 1024
"""A 422 for any body stays below this many bytes."""
UNKNOWN_FIELDS = MAX_MEMBERS - 10
"""Unknown fields in one body: as many as an object may hold (`gateway.json_body`), far more errors than a
422 lists."""
JSON = {"content-type": "application/json"}


@asynccontextmanager
async def gateway(
    redis: LocalRedis, tmp_path: Path, **settings: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(
        GatewaySettings(redis_url=redis.url, media_root=tmp_path / "media", auth=False, **settings)
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        api = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://localhost", timeout=120)
        )
        yield app, api


def many_unknown_fields(base: dict[str, Any]) -> bytes:
    return json.dumps(base | {f"k{i}": 0 for i in range(UNKNOWN_FIELDS)}).encode()


async def timed_post(api: httpx.AsyncClient, path: str, body: bytes) -> httpx.Response:
    began = time.perf_counter()
    answer = await api.post(path, content=body, headers=JSON)
    took = time.perf_counter() - began
    print(f"{path}: {len(body)} bytes -> {answer.status_code}, {len(answer.content)} bytes in {took:.2f} s")
    return answer


def assert_capped(answer: httpx.Response, *, more_than: int) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text[:2000]
    assert answer.headers["content-type"] == "application/problem+json"
    assert len(answer.content) < SMALL_ANSWER, f"a 422 of {len(answer.content)} bytes"
    problem: dict[str, Any] = answer.json()
    assert len(problem["errors"]) == MAX_ERRORS
    assert problem["more_errors"] >= more_than
    assert f"and {problem['more_errors']} more" in problem["detail"]
    return problem


async def test_a_body_of_many_unknown_fields_gets_a_small_422(
    private_redis: LocalRedis, tmp_path: Path
) -> None:
    async with gateway(private_redis, tmp_path) as (_, api):
        submit = many_unknown_fields({"job_type": "video_download", "url": "https://e.org/a"})
        problem = assert_capped(await timed_post(api, "/jobs/submit", submit), more_than=UNKNOWN_FIELDS - 100)
        first = problem["errors"][0]
        assert first["loc"] == ["body", "video_download", "k0"]
        assert first["msg"].startswith("unknown field; video_download takes ")

        retry = many_unknown_fields({"task_ids": ["x"]})
        assert_capped(await timed_post(api, "/jobs/dead/retry", retry), more_than=UNKNOWN_FIELDS - 100)


async def test_an_object_of_more_members_than_any_request_needs_is_refused_before_validation(
    private_redis: LocalRedis, tmp_path: Path
) -> None:
    """60,000 unknown fields held the event loop ~0.5 s in FastAPI's validation (health answered in 1.8 s
    beside four such requests): the body reader refuses such an object first, on its worker thread."""
    async with gateway(private_redis, tmp_path) as (_, api):
        for path, base in (
            ("/jobs/submit", {"job_type": "video_download", "url": "https://e.org/a"}),
            ("/jobs/dead/retry", {"task_ids": ["x"]}),
        ):
            body = json.dumps(base | {f"k{i}": 0 for i in range(60_000)}).encode()
            answer = await timed_post(api, path, body)
            assert answer.status_code == 422, answer.text[:2000]
            assert len(answer.content) < 2048
            assert f"an object in the body has more than {MAX_MEMBERS} members" in answer.json()["detail"]
        nested = {"job_type": "echo", "payload": {"deep": {f"k{i}": 0 for i in range(MAX_MEMBERS + 1)}}}
        answer = await timed_post(api, "/jobs/submit", json.dumps(nested).encode())
        assert answer.status_code == 422, answer.text[:2000]
        assert "more than" in answer.json()["detail"]


async def test_a_huge_value_or_field_name_is_quoted_back_cut_short(
    private_redis: LocalRedis, tmp_path: Path
) -> None:
    async with gateway(private_redis, tmp_path) as (_, api):
        job_type = "x" * 900_000
        answer = await timed_post(api, "/jobs/submit", json.dumps({"job_type": job_type}).encode())
        assert answer.status_code == 422, answer.text[:2000]
        assert len(answer.content) < SMALL_ANSWER, f"a 422 of {len(answer.content)} bytes"
        assert "expected tags" in answer.json()["detail"]  # what the cut message still says

        name = "y" * 500_000
        body = json.dumps({"job_type": "echo", "payload": {}, name: 1}).encode()
        answer = await timed_post(api, "/jobs/submit", body)
        assert answer.status_code == 422, answer.text[:2000]
        assert len(answer.content) < SMALL_ANSWER, f"a 422 of {len(answer.content)} bytes"
        loc = answer.json()["errors"][0]["loc"]
        assert loc[:2] == ["body", "echo"]
        assert loc[2].startswith("yyy")
        assert "500000 characters" in loc[2]


async def test_every_connection_in_use_is_a_busy_503_not_an_outage(
    private_redis: LocalRedis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mediajobs.gateway")
    async with gateway(private_redis, tmp_path, redis_max_connections=2, redis_request_timeout_s=0.5) as (
        app,
        api,
    ):
        assert (await api.get("/jobs/list?limit=50")).status_code == 200
        pool = app.state.client.redis.connection_pool
        held = []
        while pool.can_get_connection():  # a burst's worth (the event hub holds one of them already)
            held.append(await pool.get_connection())
        try:
            for answer in (
                await api.get("/jobs/list?limit=50"),
                await api.post("/jobs/submit", json={"job_type": "echo", "payload": {}}),
            ):
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.headers["retry-after"] == "1"
                problem = answer.json()
                assert problem["type"] == BUSY_TYPE
                assert problem["title"] == "Gateway Busy"
                assert "busy" in problem["detail"]
                assert "unavailable" not in problem["detail"]
        finally:
            for connection in held:
                await pool.release(connection)
        assert (await api.get("/jobs/list?limit=50")).status_code == 200
    assert "gateway busy" in caplog.text
    assert "job store unavailable" not in caplog.text


async def test_an_idempotency_key_given_twice_is_refused(private_redis: LocalRedis, tmp_path: Path) -> None:
    async with gateway(private_redis, tmp_path) as (_, api):
        body = {"job_type": "echo", "payload": {}}
        twice = await api.post(
            "/jobs/submit", json=body, headers=[("Idempotency-Key", "dupA-1"), ("Idempotency-Key", "dupB-1")]
        )
        assert twice.status_code == 422, twice.text
        problem = twice.json()
        assert problem["errors"] == [
            {
                "loc": ["header", "idempotency-key"],
                "msg": "Idempotency-Key was given 2 times; send it once",
                "type": "header_repeated",
            }
        ]
        folded = await api.post("/jobs/submit", json=body, headers={"Idempotency-Key": "dupA-2, dupB-2"})
        assert folded.status_code == 422, folded.text
        once = await api.post("/jobs/submit", json=body, headers={"Idempotency-Key": "dupA-1"})
        assert once.status_code == 202, once.text
        again = await api.post("/jobs/submit", json=body, headers={"Idempotency-Key": "dupA-1"})
        assert again.status_code == 200, again.text
        assert again.json()["task_id"] == once.json()["task_id"]


WAITS = [(0.0, 1), (0.04, 1), (0.99, 1), (1.0, 2), (1.2, 2), (4.99, 5), (5.0, 6)]
"""(seconds to wait, what a refusal says): the next whole second, never 0."""


@pytest.mark.parametrize(("wait_s", "said"), WAITS)
def test_a_rate_refusal_says_whole_seconds(wait_s: float, said: int) -> None:
    refusal = TooManySubmissions(wait_s)
    assert str(refusal) == f"too many submissions; try again in {said} s"
    assert refusal.retry_after_whole_s == said


async def test_a_429_says_the_wait_its_retry_after_says(private_redis: LocalRedis, tmp_path: Path) -> None:
    async with gateway(private_redis, tmp_path, submit_rate_per_s=0.4, submit_burst=1) as (_, api):
        body = {"job_type": "echo", "payload": {}}
        assert (await api.post("/jobs/submit", json=body)).status_code == 202
        for _ in range(2):  # refused by the create step, then at once by the gateway (refused_keys)
            refused = await api.post("/jobs/submit", json=body)
            assert refused.status_code == 429, refused.text
            wait = refused.headers["retry-after"]
            assert int(wait) >= 1
            assert refused.json()["detail"] == f"too many submissions; try again in {wait} s"
