"""Playlists end to end: a parent job lists the entries and runs one download job per entry."""

from __future__ import annotations

import itertools
import time
from datetime import datetime

import httpx
from redis.asyncio import Redis

from jobcommon import keys
from jobcommon.priorities import Priority
from tests.conftest import rss_feed
from tests.jobs import status, submit, wait_for, wait_terminal
from tests.support.httpserver import MediaServer


async def _children(api: httpx.AsyncClient, parent_id: str) -> list[dict[str, object]]:
    parent = await status(api, parent_id)
    return [await status(api, child) for child in parent["children"]]


async def test_feed_playlist_with_partial_failure(api: httpx.AsyncClient, media_server: MediaServer) -> None:
    parent = await submit(
        api, {"job_type": "playlist_download", "url": media_server.url("feed.rss"), "concurrency": 1}
    )
    current = await wait_terminal(api, parent["task_id"], timeout=90)
    assert current["status"] == "succeeded", current
    assert current["result"]["total"] == 3
    assert current["result"]["succeeded"] == 2
    assert current["result"]["failed"] == 1
    assert current["progress"]["items_done"] == 3
    assert current["progress"]["items_failed"] == 1
    assert current["progress"]["percent"] == 100.0
    children = await _children(api, parent["task_id"])
    # concurrency 1: no two runs overlap (each attempt's start and end are on Redis's clock, written by the
    # scripts that start and end it; sampling statuses one request at a time could not tell)
    runs = sorted(
        (datetime.fromisoformat(a["started_at"]), datetime.fromisoformat(a["finished_at"]))
        for c in children
        for a in c["attempt_log"]  # type: ignore[attr-defined]
    )
    assert len(runs) >= 3
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(runs)), runs
    assert [c["job_type"] for c in children] == ["video_download"] * 3
    assert all(c["parent_id"] == parent["task_id"] for c in children)
    assert [c["status"] for c in children] == ["succeeded", "succeeded", "failed"]
    assert {c["trace_id"] for c in children} == {parent["trace_id"]}
    items = (await api.get(f"/jobs/{parent['task_id']}/items")).json()
    assert items["total"] == 3
    assert [i["status"] for i in items["items"]] == ["succeeded", "succeeded", "failed"]
    assert items["items"][0]["result"]["sha256"]


async def test_page_with_several_videos_is_a_playlist(
    api: httpx.AsyncClient, media_server: MediaServer
) -> None:
    parent = await submit(api, {"job_type": "playlist_download", "url": media_server.url("multi.html")})
    done = await wait_terminal(api, parent["task_id"], timeout=90)
    assert done["status"] == "succeeded"
    assert done["result"] == {"total": 2, "succeeded": 2, "failed": 0, "bytes": done["result"]["bytes"]}
    assert done["result"]["bytes"] > 0


async def test_items_option_selects_entries(api: httpx.AsyncClient, media_server: MediaServer) -> None:
    parent = await submit(
        api, {"job_type": "playlist_download", "url": media_server.url("feed.rss"), "items": "1"}
    )
    done = await wait_terminal(api, parent["task_id"], timeout=60)
    assert done["result"]["total"] == 1
    assert done["result"]["succeeded"] == 1


async def test_cancelling_the_parent_cancels_every_child(
    api: httpx.AsyncClient, media_server: MediaServer
) -> None:
    parent = await submit(
        api, {"job_type": "playlist_download", "url": media_server.url("slowfeed.rss"), "concurrency": 2}
    )
    await wait_for(api, parent["task_id"], lambda j: len(j["children"]) == 4, timeout=30)
    children = await _children(api, parent["task_id"])
    await wait_for(api, str(children[0]["task_id"]), lambda j: j["status"] == "running", timeout=30)
    response = await api.post(f"/jobs/{parent['task_id']}/cancel")
    assert response.status_code == 202
    final = await wait_terminal(api, parent["task_id"], timeout=10)
    assert final["status"] == "cancelled"
    statuses = [c["status"] for c in await _children(api, parent["task_id"])]
    assert statuses == ["cancelled"] * 4


async def test_empty_or_unsupported_playlist_fails(api: httpx.AsyncClient, media_server: MediaServer) -> None:
    parent = await submit(api, {"job_type": "playlist_download", "url": media_server.url("missing.rss")})
    done = await wait_terminal(api, parent["task_id"], timeout=60)
    assert done["status"] == "failed"
    assert done["children"] == []


async def test_a_500_entry_playlist_neither_hangs_nor_floods(
    api: httpx.AsyncClient, media_server: MediaServer, redis: Redis
) -> None:
    feed = media_server.root / "big.rss"
    feed.write_text(rss_feed(*[f"{{BASE}}/veryslow/big.mp4?entry={i}" for i in range(500)]))
    started = time.monotonic()
    parent = await submit(
        api, {"job_type": "playlist_download", "url": media_server.url("big.rss"), "concurrency": 2}
    )
    waiting = await wait_for(api, parent["task_id"], lambda j: len(j["children"]) == 500, timeout=60)
    assert time.monotonic() - started < 30
    assert waiting["progress"]["items_total"] == 500
    on_queue = await redis.xlen(keys.stream("video_downloads", Priority.LOW))  # entries: a step below
    held = await redis.xlen(keys.held(parent["task_id"]))
    assert on_queue <= 2 + 1  # only `concurrency` entries are on the queue (+1 read ahead by the worker)
    assert held >= 500 - on_queue - 2
    response = await api.post(f"/jobs/{parent['task_id']}/cancel")
    assert response.status_code == 202
    final = await wait_terminal(api, parent["task_id"], timeout=60)
    assert final["status"] == "cancelled"
    assert final["progress"]["items_done"] == 500
    assert not await redis.exists(keys.held(parent["task_id"]))
