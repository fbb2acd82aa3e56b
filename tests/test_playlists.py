"""Playlists end to end: a parent job lists the entries and runs one download job per entry."""

from __future__ import annotations

import itertools
import json
import shutil
import time
import uuid
from datetime import datetime

import httpx
from redis.asyncio import Redis
from yt_dlp.utils import smuggle_url, unsmuggle_url

from downloader.playlist import entry_download, entry_url
from jobcommon import PlaylistDownloadRequest, keys
from jobcommon.priorities import Priority
from jobcommon.ytdlp.smuggling import smuggle, unsmuggle
from tests.conftest import Stack, rss_feed
from tests.jobs import status, submit, wait_for, wait_terminal
from tests.support.httpserver import MediaServer


async def _children(api: httpx.AsyncClient, parent_id: str) -> list[dict[str, object]]:
    parent = await status(api, parent_id)
    return [await status(api, child) for child in parent["children"]]


async def test_feed_playlist_with_partial_failure(
    api: httpx.AsyncClient, media_server: MediaServer, stack: Stack
) -> None:
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
    # each entry is titled as the feed names it, not after its file ("clip", "big")
    assert [c["request"].get("title") for c in children] == ["Entry 0", "Entry 1", "Entry 2"]  # type: ignore[attr-defined]
    assert [c["result"]["title"] for c in children[:2]] == ["Entry 0", "Entry 1"]  # type: ignore[index]
    assert {c["trace_id"] for c in children} == {parent["trace_id"]}
    items = (await api.get(f"/jobs/{parent['task_id']}/items")).json()
    assert items["total"] == 3
    assert [i["status"] for i in items["items"]] == ["succeeded", "succeeded", "failed"]
    assert items["items"][0]["result"]["sha256"]
    assert not (stack.media_root / parent["task_id"]).exists()  # its files are its entries': no empty folder


async def test_page_with_several_videos_is_a_playlist(
    api: httpx.AsyncClient, media_server: MediaServer
) -> None:
    parent = await submit(api, {"job_type": "playlist_download", "url": media_server.url("multi.html")})
    done = await wait_terminal(api, parent["task_id"], timeout=90)
    assert done["status"] == "succeeded"
    assert done["result"] == {
        "total": 2,
        "succeeded": 2,
        "failed": 0,
        "cancelled": 0,
        "bytes": done["result"]["bytes"],
    }
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
    # counted as cancelled, not failed
    assert final["result"] == {"total": 4, "succeeded": 0, "failed": 0, "cancelled": 4, "bytes": 0}
    assert final["progress"]["message"] == "4 of 4 done, 0 failed, 4 cancelled"
    assert (final["progress"]["items_failed"], final["progress"]["items_cancelled"]) == (0, 4)
    items = (await api.get(f"/jobs/{parent['task_id']}/items")).json()
    assert [i["status"] for i in items["items"]] == ["cancelled"] * 4


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


async def test_a_fixed_entry_retried_corrects_its_playlist(
    api: httpx.AsyncClient, media_server: MediaServer
) -> None:
    """A feed with a broken entry: its job fails (404); the source is fixed and the entry retried. When it
    succeeds, the playlist's item, counts and result say so. Entries show their plain URLs (no yt-dlp
    smuggling), and an item's result is the entry job's own, unchanged."""
    late = f"late-{uuid.uuid4().hex[:8]}.mp4"
    feed = media_server.root / f"{late}.rss"
    feed.write_text(rss_feed("{BASE}/clip.mp4", f"{{BASE}}/{late}"))
    parent = await submit(
        api, {"job_type": "playlist_download", "url": media_server.url(feed.name), "concurrency": 2}
    )
    ended = await wait_terminal(api, parent["task_id"], timeout=90)
    assert ended["status"] == "succeeded"
    size = (media_server.root / "clip.mp4").stat().st_size
    assert ended["result"] == {"total": 2, "succeeded": 1, "failed": 1, "cancelled": 0, "bytes": size}
    children = await _children(api, parent["task_id"])
    urls = [media_server.url("clip.mp4"), media_server.url(late)]
    assert [c["request"]["url"] for c in children] == urls  # type: ignore[index]
    assert [c["status"] for c in children] == ["succeeded", "failed"]
    good: dict[str, object] = children[0]["result"]  # type: ignore[assignment]
    assert good["source_url"] == urls[0]
    assert good["extra_files"] == []
    items = (await api.get(f"/jobs/{parent['task_id']}/items")).json()["items"]
    assert [i["item"] for i in items] == urls
    assert items[0]["result"] == good
    assert "__youtubedl_smuggle" not in json.dumps([children, items])

    shutil.copy(media_server.root / "clip.mp4", media_server.root / late)
    broken = str(children[1]["task_id"])
    response = await api.post(f"/jobs/{broken}/retry")
    assert response.status_code == 202, response.text
    fixed = await wait_terminal(api, broken, timeout=60)
    assert fixed["status"] == "succeeded", fixed
    # the entry's end and the parent's correction are one step: no waiting for the parent
    corrected = await status(api, parent["task_id"])
    assert corrected["status"] == "succeeded"
    assert corrected["result"] == {"total": 2, "succeeded": 2, "failed": 0, "cancelled": 0, "bytes": 2 * size}
    assert corrected["progress"]["message"] == "2 of 2 done, 0 failed"
    assert corrected["progress"]["items_failed"] == 0
    assert corrected["finished_at"] == ended["finished_at"]
    items = (await api.get(f"/jobs/{parent['task_id']}/items")).json()["items"]
    assert [i["status"] for i in items] == ["succeeded", "succeeded"]
    assert items[1]["error"] is None
    assert items[1]["result"] == fixed["result"]
    assert fixed["result"]["source_url"] == urls[1]


def test_an_entry_no_download_may_take_is_skipped_not_the_whole_playlist() -> None:
    """A feed entry whose URL no download request may hold (a bad port, a blank in its host, two dots, a tab)
    gives no child, instead of failing the playlist; a title no request may hold is left out."""
    playlist = PlaylistDownloadRequest(url="https://feeds.example/list.rss")
    for odd in (
        "http://a..b/v.mp4",
        "http://example.com:0/v.mp4",
        "http://exa mple.com/v.mp4",
        "http://example.com/v\t.mp4",
    ):
        assert entry_download(odd, "Entry", playlist) is None, odd
    fine = entry_download("https://media.example/v.mp4", "Clip \u202egpj.exe", playlist)
    assert fine is not None
    assert (fine.url, fine.title) == ("https://media.example/v.mp4", None)


def test_entry_urls_keep_only_the_smuggled_data_yt_dlp_needs() -> None:
    """A feed entry's smuggled guid only names the video (downloads are named media.<ext>): its URL goes
    plain. Data that changes how yt-dlp fetches the entry (a referer) is kept, in yt-dlp's own format."""
    plain = "http://127.0.0.1:8765/h264.mp4?n=1"
    assert entry_url(smuggle_url(plain, {"force_videoid": "a1"})) == plain
    assert entry_url(plain) == plain
    referer = "http://127.0.0.1:8765/page.html#top"
    kept = entry_url(smuggle_url(plain, {"force_videoid": "a1", "referer": referer}))
    assert unsmuggle_url(kept) == (plain, {"referer": referer})
    for data in ({}, {"force_videoid": "a1"}, {"to_generic": True, "referer": referer}):
        smuggled = smuggle_url(plain, dict(data))
        assert unsmuggle(smuggled) == unsmuggle_url(smuggled, {})
        assert smuggle(plain, dict(data)) == smuggled
        assert smuggle(smuggled, {"force_videoid": "other"}) == smuggle_url(
            smuggled, {"force_videoid": "other"}
        )
    assert unsmuggle(plain) == (plain, {})


async def test_a_download_shows_its_source_url_without_smuggled_data(
    api: httpx.AsyncClient, media_server: MediaServer
) -> None:
    """Smuggled data kept for yt-dlp (an entry's referer) stays out of the result's `source_url`."""
    clip = media_server.url("clip.mp4")
    job = await submit(
        api,
        {"job_type": "video_download", "url": smuggle_url(clip, {"referer": media_server.url("page.html")})},
    )
    done = await wait_terminal(api, job["task_id"], timeout=60)
    assert done["status"] == "succeeded", done
    assert done["result"]["source_url"] == clip
