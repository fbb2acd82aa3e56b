"""What a download request selects: a playlist's `items` in yt-dlp's own syntax (checked at submission,
applied end to end), plain M3U lists given to `playlist_download`, and the duplicate guard of a download
keeping apart requests that differ in anything that changes the work or its result (its title, ...)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import ValidationError
from yt_dlp.utils import PlaylistEntries

from downloader.child_protocol import EntriesEvent
from downloader.child_runner import list_entries
from downloader.m3u import MAX_M3U_BYTES, parse_plain_m3u
from jobcommon import CommonSettings, PlaylistDownloadRequest, VideoDownloadRequest
from jobcommon.child_process import ChildFailed
from jobcommon.requests.playlist_items import MAX_PLAYLIST_INDEX
from jobcommon.store import JobStore
from jobcommon.submission import submit_job
from tests.conftest import rss_feed
from tests.jobs import status, submit, wait_terminal
from tests.support.httpserver import MediaServer
from tests.support.media import make_hls, make_mp4
from tests.support.specs import child_spec

if TYPE_CHECKING:
    from collections.abc import Iterator

    from redis.asyncio import Redis

FEED_SIZE = 10


# --------------------------------------------------------------------------------------------
# `items`: yt-dlp's syntax, refused at submission when yt-dlp would refuse it or it selects nothing
# --------------------------------------------------------------------------------------------


class _NoYdl:
    params: dict[str, Any] = {}  # noqa: RUF012 - what PlaylistEntries reads of a YoutubeDL


def _yt_dlp_selects(part: str, length: int) -> list[int]:
    """The 1-based indices yt-dlp's own `PlaylistEntries` selects with `part` in a list of `length`."""
    entries = PlaylistEntries(_NoYdl(), {"entries": list(range(length))})
    (index,) = PlaylistEntries.parse_playlist_items(part)
    return [i for i, _ in entries[index]]


def _accepted(items: str) -> bool:
    try:
        PlaylistDownloadRequest(url="https://example.com/list.rss", items=items)
    except ValidationError as exc:
        refused = exc
    else:
        return True
    assert [error["loc"] for error in refused.errors()] == [("items",)], refused
    return False


def _small_parts() -> Iterator[str]:
    """Every part of yt-dlp's syntax with indices -6..6 (and inf), steps -3..3 and both separators."""
    starts = ["", *map(str, range(-6, 7))]
    steps = ["", ":-3", ":-2", ":-1", ":1", ":2", ":3", ":+2"]
    yield from starts[1:]
    for start, sep, end, step in itertools.product(starts, ":-", [*starts, "inf", "infinite"], steps):
        yield f"{start}{sep}{end}{step}"


def test_every_part_yt_dlp_reads_is_accepted_if_it_selects_an_entry_of_some_playlist() -> None:
    """Exhaustive against yt-dlp itself: a part is accepted exactly when yt-dlp parses it and it selects at
    least one entry of a playlist of some length (1 to 30 entries covers every part here)."""
    checked = 0
    for part in _small_parts():
        selects = any(_yt_dlp_selects(part, length) for length in range(1, 31))
        assert _accepted(part) == selects, (part, selects)
        checked += 1
    assert checked > 3500


@pytest.mark.parametrize(
    ("items", "kept"),
    [
        ("1:5", "1:5"),
        ("::2", "::2"),
        ("-3:", "-3:"),
        ("2:8:2", "2:8:2"),
        ("1-3,7,10-13", "1-3,7,10-13"),
        ("::-1", "::-1"),
        ("5:1:-1", "5:1:-1"),
        ("-1", "-1"),
        ("3-inf", "3-inf"),
        ("1:infinite", "1:infinite"),
        ("+2", "+2"),
        ("--3", "--3"),
        (" 1 - 3 , 7 ", "1-3,7"),
        (":", ":"),
        (f"1-{MAX_PLAYLIST_INDEX}", f"1-{MAX_PLAYLIST_INDEX}"),
        (f"-{MAX_PLAYLIST_INDEX}:", f"-{MAX_PLAYLIST_INDEX}:"),
    ],
)
def test_yt_dlp_selections_are_accepted(items: str, kept: str) -> None:
    assert PlaylistDownloadRequest(url="https://example.com/list.rss", items=items).items == kept
    tuple(PlaylistEntries.parse_playlist_items(kept))  # what is kept, yt-dlp reads


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ("", "empty"),
        ("1,,3", "empty part"),
        ("1,", "empty part"),
        ("a", "not a valid part"),
        ("1-2-3", "not a valid part"),
        ("1:5:", "not a valid part"),
        ("1:INF", "not a valid part"),
        ("1 0", "blanks"),
        ("1:5:0", "step of 0"),
        ("0", "selects no entry"),
        ("5-3", "selects no entry"),
        ("1:5:-1", "selects no entry"),
        ("-1:-3", "selects no entry"),
        ("2,0", "selects no entry"),
        ("3:inf:-1", "selects no entry"),
        (f"{MAX_PLAYLIST_INDEX + 1}", "beyond"),
        ("-1000000000:", "beyond"),
        ("1000000000::-1", "beyond"),
        ("1" * 1001, "at most 1000"),
    ],
)
def test_selections_yt_dlp_refuses_or_that_select_nothing_are_refused(items: str, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        PlaylistDownloadRequest(url="https://example.com/list.rss", items=items)
    (error,) = refused.value.errors()
    assert error["loc"] == ("items",)
    assert reason in error["msg"], error["msg"]


async def test_a_refused_selection_is_a_422_naming_the_field(api: httpx.AsyncClient) -> None:
    for items in ("0", "5-3", "1:5:0", "1,,2", "x"):
        response = await api.post(
            "/jobs/submit",
            json={"job_type": "playlist_download", "url": "https://example.com/list.rss", "items": items},
        )
        assert response.status_code == 422, (items, response.text)
        assert "items" in response.text, response.text


# --------------------------------------------------------------------------------------------
# `items` end to end: what the request accepts selects those very entries
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    root = tmp_path_factory.mktemp("selections")
    make_mp4(root / "clip.mp4", seconds=1.0)
    (root / "ten.rss").write_text(rss_feed(*[f"{{BASE}}/clip.mp4?entry={i}" for i in range(FEED_SIZE)]))
    with MediaServer(root) as server:
        yield server


SELECTIONS = [
    ("1:5", [1, 2, 3, 4, 5]),
    ("::2", [1, 3, 5, 7, 9]),
    ("-3:", [8, 9, 10]),
    ("2:8:2", [2, 4, 6, 8]),
    ("1-3,7,10-13", [1, 2, 3, 7, 10]),
    ("::-1", [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]),
    ("-1,1", [10, 1]),
    ("3,1,3", [3, 1]),
    ("-12:2", [1, 2]),
]


async def test_a_selection_lists_the_entries_yt_dlp_selects(site: MediaServer, tmp_path: Path) -> None:
    """Each selection, accepted by the request and handed to the listing as the downloader does, lists the
    entries yt-dlp's own parser selects, in its order (a repeated entry once)."""
    requests = [PlaylistDownloadRequest(url=site.url("ten.rss"), items=items) for items, _ in SELECTIONS]
    listed = await asyncio.gather(
        *(
            list_entries(child_spec(tmp_path / str(i), r.url, action="list", playlist_items=r.items))
            for i, r in enumerate(requests)
        )
    )
    for (items, expected), listing in zip(SELECTIONS, listed, strict=True):
        assert [e.title for e in listing.entries] == [f"Entry {n - 1}" for n in expected], items
        assert [e.url.split("#")[0] for e in listing.entries] == [
            site.url(f"clip.mp4?entry={n - 1}") for n in expected
        ], items
        # what yt-dlp's parser says, entries in order of first selection
        parsed = [n for part in items.split(",") for n in _yt_dlp_selects(part, FEED_SIZE)]
        assert expected == list(dict.fromkeys(parsed)), items


async def test_a_playlist_download_with_a_slice_runs_the_selected_entries(
    api: httpx.AsyncClient, media_server: MediaServer
) -> None:
    feed = media_server.root / "selections-five.rss"
    feed.write_text(rss_feed(*[f"{{BASE}}/clip.mp4?pick={i}" for i in range(5)]))
    parent = await submit(
        api, {"job_type": "playlist_download", "url": media_server.url(feed.name), "items": "-2:,1"}
    )
    done = await wait_terminal(api, parent["task_id"], timeout=90)
    assert done["status"] == "succeeded", done
    assert done["result"]["total"] == 3
    assert done["result"]["succeeded"] == 3
    children = [await status(api, child) for child in done["children"]]
    assert [c["request"]["title"] for c in children] == ["Entry 3", "Entry 4", "Entry 0"]


# --------------------------------------------------------------------------------------------
# plain M3U lists
# --------------------------------------------------------------------------------------------


def test_plain_m3u_documents_and_what_is_none() -> None:
    base = "http://media.example/lists/a.m3u"
    extended = (
        "\ufeff#EXTM3U\n"
        '#EXTINF:12.5 tvg-name="a, b" group-title="x",Clip, the first\n'
        "http://media.example/one.mp4\n"
        "#EXTVLCOPT:network-caching=1000\n"
        "two.mp4\n"
        "#EXTINF:-1,Third\n"
        "/abs/three.mp4\n"
    )
    entries = parse_plain_m3u(extended, base)
    assert entries is not None
    assert [(e.url, e.title, e.duration) for e in entries] == [
        ("http://media.example/one.mp4", "Clip, the first", 12.5),
        ("http://media.example/lists/two.mp4", None, None),
        ("http://media.example/abs/three.mp4", "Third", None),
    ]
    bare = parse_plain_m3u("# my list\nhttp://a.example/1.mp4\n\nftp://b.example/2.mp4\n", base)
    assert bare is not None
    assert [e.url for e in bare] == ["http://a.example/1.mp4", "ftp://b.example/2.mp4"]
    assert parse_plain_m3u("#EXTM3U\n", base) == []  # a list without entries: an empty playlist
    hls_media = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg0.ts\n#EXT-X-ENDLIST\n"
    hls_master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow/index.m3u8\n"
    for other in (hls_media, hls_master, "hello\nworld\n", "http://a.example/1.mp4\nnot a url\n", ""):
        assert parse_plain_m3u(other, base) is None, other


@pytest.fixture(scope="module")
def lists(site: MediaServer) -> MediaServer:
    """M3U lists of the site's clip: extended (titles, a relative URL, an ftp entry), bare (served as
    application/octet-stream, and as HLS's own type), and real HLS (a media and a master playlist)."""
    root, base = site.root, site.base_url
    (root / "ext.m3u").write_text(
        "#EXTM3U\n"
        f"#EXTINF:1,First clip\n{base}/clip.mp4?m=1\n"
        "#EXTINF:1,Second clip\nclip.mp4?m=2\n"
        "#EXTINF:1,Not http\nftp://127.0.0.1/clip.mp4\n"
        f"#EXTINF:1,Third clip\n{base}/clip.mp4?m=3\n"
    )
    bare = "# three clips\n" + "".join(f"{base}/clip.mp4?b={i}\n" for i in range(3))
    (root / "bare.m3u").write_text(bare)
    (root / "bare-typed.m3u8").write_text(bare)  # application/vnd.apple.mpegurl: yt-dlp fails on it as HLS
    make_hls(root / "hls", root / "clip.mp4")
    (root / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=64x64\n{BASE}/hls/index.m3u8\n"
    )
    (root / "huge.m3u").write_bytes(b"#EXTM3U\n" + b"#" * (MAX_M3U_BYTES + 10) + b"\n")
    (root / "notes.txt").write_bytes(b"# notes\n" + b"just text\n" * (MAX_M3U_BYTES // 10 + 1))
    return site


async def _list(server: MediaServer, tmp_path: Path, name: str, **spec: Any) -> EntriesEvent:
    return await list_entries(child_spec(tmp_path / name, server.url(name), action="list", **spec))


async def test_a_plain_m3u_lists_its_urls(lists: MediaServer, tmp_path: Path) -> None:
    """yt-dlp reads an extended M3U as an HLS master (each URL a "variant") and a bare list as one media
    file; listed, they are playlists of their URLs (relative ones resolved, a non-http one skipped), with
    their titles, selectable with `items` like any playlist."""
    extended, bare, typed, picked = await asyncio.gather(
        _list(lists, tmp_path, "ext.m3u"),
        _list(lists, tmp_path, "bare.m3u"),
        _list(lists, tmp_path, "bare-typed.m3u8"),
        list_entries(
            child_spec(tmp_path / "picked", lists.url("ext.m3u"), action="list", playlist_items="-1,1")
        ),
    )
    assert extended.playlist
    assert [(e.url, e.title) for e in extended.entries] == [
        (lists.url("clip.mp4?m=1"), "First clip"),
        (lists.url("clip.mp4?m=2"), "Second clip"),
        (lists.url("clip.mp4?m=3"), "Third clip"),
    ]
    assert extended.skipped == 1
    for listing in (bare, typed):
        assert listing.playlist
        assert [e.url for e in listing.entries] == [lists.url(f"clip.mp4?b={i}") for i in range(3)]
    assert [e.title for e in picked.entries] == ["Third clip", "First clip"]


async def test_real_hls_stays_one_video_and_a_huge_list_fails_for_good(
    lists: MediaServer, tmp_path: Path
) -> None:
    media, master = await asyncio.gather(
        _list(lists, tmp_path, "hls/index.m3u8"), _list(lists, tmp_path, "master.m3u8")
    )
    assert (media.playlist, [e.url for e in media.entries]) == (False, [lists.url("hls/index.m3u8")])
    assert (master.playlist, [e.url for e in master.entries]) == (False, [lists.url("master.m3u8")])
    notes = await _list(lists, tmp_path, "notes.txt")  # large, and starting like a list: no list
    assert (notes.playlist, [e.url for e in notes.entries]) == (False, [lists.url("notes.txt")])
    with pytest.raises(ChildFailed) as failed:
        await _list(lists, tmp_path, "huge.m3u")
    assert (failed.value.kind, failed.value.error_type) == ("permanent", "M3uTooLargeError")
    assert "larger than" in failed.value.message


async def test_a_playlist_download_of_an_m3u_downloads_its_entries(
    api: httpx.AsyncClient, media_server: MediaServer
) -> None:
    """End to end: each entry of the list is a download of its own, titled as the list names it."""
    listed = media_server.root / "selections-list.m3u"
    base = media_server.base_url
    listed.write_text(
        f"#EXTM3U\n#EXTINF:3,Opening\n{base}/clip.mp4?list=1\n#EXTINF:3,Closing\nclip.mp4?list=2\n"
    )
    parent = await submit(api, {"job_type": "playlist_download", "url": media_server.url(listed.name)})
    done = await wait_terminal(api, parent["task_id"], timeout=90)
    assert done["status"] == "succeeded", done
    assert (done["result"]["total"], done["result"]["succeeded"]) == (2, 2)
    children = [await status(api, child) for child in done["children"]]
    assert [c["request"]["title"] for c in children] == ["Opening", "Closing"]
    assert [c["attempts"] for c in children] == [1, 1]
    size = (media_server.root / "clip.mp4").stat().st_size
    assert [c["result"]["size"] for c in children] == [size, size]


# --------------------------------------------------------------------------------------------
# the duplicate guard of a download
# --------------------------------------------------------------------------------------------


@pytest.fixture
def store(unrun_redis: Redis, settings: CommonSettings) -> JobStore:
    return JobStore(unrun_redis, settings)


async def test_a_download_with_another_title_or_policy_is_no_duplicate(store: JobStore) -> None:
    """The title is the result's: a second download of the same URL under another title (a playlist entry,
    say) is a job of its own, not the first one with its title lost. So are other retry and time-limit
    overrides (the work may end otherwise). When the job runs (its priority, run_at, delay_s) is no other
    work: still a duplicate."""
    url = "http://127.0.0.1:9/titled.mp4"
    plain: dict[str, Any] = {"job_type": "video_download", "url": url}
    variants: list[dict[str, Any]] = [
        {**plain, "title": "First"},
        {**plain, "title": "Second"},
        {**plain, "retry": {"max_attempts": 1}},
        {**plain, "time_limit": {"soft_limit_s": 30}},
    ]
    first = await submit_job(store, plain)
    made = [await submit_job(store, body) for body in variants]
    assert all(m.created for m in made), made
    assert [m.job.request.get("title") for m in made[:2]] == ["First", "Second"]
    for body, live in ((plain, first), *zip(variants, made, strict=True)):
        again = await submit_job(store, body)
        assert (again.created, again.reason, again.job.task_id) == (False, "duplicate", live.job.task_id)
    when: dict[str, Any]
    for when in ({"priority": "high"}, {"delay_s": 60}, {"retry": {}}):
        again = await submit_job(store, {**plain, **when})
        assert (again.created, again.job.task_id) == (False, first.job.task_id), when


def test_a_download_without_the_new_fields_keeps_its_fingerprint() -> None:
    """Jobs live when the guard changed still guard their work: the fingerprint of a request that sets none
    of the fields now included is the one it had."""
    request = VideoDownloadRequest(url="http://127.0.0.1:9/a.mp4", options={"max_height": 720})
    before = {"url": request.url, "options": {"max_height": 720}}
    assert (
        request.duplicate_fingerprint()
        == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    )


async def test_a_video_download_of_an_m3u_list_fails_at_once_naming_playlist_download(
    api: httpx.AsyncClient, media_server: MediaServer
) -> None:
    """yt-dlp takes an extended M3U for an HLS stream whose "segments" are the bytes of media files: it
    failed with a connection error retried in vain. It is a permanent failure that says what to submit."""
    listed = media_server.root / "one-video-list.m3u"
    base = media_server.base_url
    listed.write_text(f"#EXTM3U\n#EXTINF:3,A\n{base}/clip.mp4?v=1\n#EXTINF:3,B\n{base}/clip.mp4?v=2\n")
    job = await submit(api, {"job_type": "video_download", "url": media_server.url(listed.name)})
    done = await wait_terminal(api, job["task_id"], timeout=90)
    assert (done["status"], done["attempts"]) == ("failed", 1), done
    assert done["error"]["type"] == "PlaylistUrlError", done["error"]
    assert "M3U list of 2 media URLs" in done["error"]["message"]
    assert "playlist_download" in done["error"]["message"]
