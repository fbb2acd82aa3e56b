"""A refused request for an event stream takes none of the key's capped streams: 20 requests with a bad
parameter (a 422 each) used to use up alice's 20 streams until the gateway restarted (429 for every later
stream: the dashboard's live list and `mediajobs watch` went dark)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import ApiKeys, bearer
from tests.support.lone_gateway import LoneGateway, lone_gateway
from tests.support.otlp import OtlpReceiver

STREAM_SLOTS_DB = 11
PER_KEY = 20
"""MAX_EVENT_STREAMS_PER_KEY's default."""


@pytest.fixture(scope="module")
async def gateway(
    redis_url: str, otlp: OtlpReceiver, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LoneGateway]:
    folder = tmp_path_factory.mktemp("stream-slots")
    async with lone_gateway(redis_url, STREAM_SLOTS_DB, otlp, api_keys, folder) as gateway:
        yield gateway


@pytest.mark.parametrize(
    "query",
    [
        {"status": "bogus"},
        {"job_type": "x" * 101},
        {"after": "1" * 65},
        {"status": "queued", "owner": "bob"},  # 403: a read key names another owner
    ],
    ids=["status", "job_type", "after", "owner"],
)
async def test_a_refused_stream_request_gives_its_slot_back(
    gateway: LoneGateway, query: dict[str, str]
) -> None:
    async with httpx.AsyncClient(
        base_url=gateway.url, timeout=30, headers=bearer(gateway.keys.alice_read)
    ) as alice:
        for _ in range(PER_KEY + 5):
            refused = await alice.get("/jobs/stream", params=query)
            assert refused.status_code in (403, 422), refused.text
        async with alice.stream("GET", "/jobs/stream") as stream:  # a stream is still to be had
            assert stream.status_code == 200, await stream.aread()
            assert stream.headers["content-type"].startswith("text/event-stream")
