"""`video_info` of a plain M3U list of media URLs: a playlist of its URLs, as the downloader lists it
(`jobcommon.ytdlp.m3u_lists`), not the HLS stream (or the one direct file) yt-dlp's generic extractor takes it
for. Through the metadata child (`InfoPool`: the extraction `video_info` runs) and once end to end through a
real `python -m metadata` process with its ``METADATA_PLAYLIST_PREVIEW``."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from jobcommon import CommonSettings, JobClient, JobStatus, keys
from jobcommon.child_process import ChildFailed
from jobcommon.ytdlp.m3u_lists import MAX_M3U_BYTES
from metadata.info_pool import InfoPool
from metadata.info_protocol import ChildConfig
from metadata.source_info import SourceInfo
from tests.conftest import service_env
from tests.support.httpserver import MediaServer
from tests.support.localhttp import BackgroundHTTPServer, QuietHandler
from tests.support.media import make_hls, make_mp4
from tests.support.otlp import OtlpReceiver
from tools.procs import ServiceProcess

DB = 14
CLIPS = 12


@pytest.fixture(scope="module")
def lists(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    """A clip and lists of it: extended (titles, durations, a relative URL), bare (served as
    application/octet-stream, and as HLS's own type), a long one, a huge one; and real HLS."""
    root = tmp_path_factory.mktemp("m3u_info")
    make_mp4(root / "clip.mp4", seconds=2.0)
    with MediaServer(root) as server:
        base = server.base_url
        (root / "list.m3u").write_text(
            f"#EXTM3U\n#EXTINF:2,First clip\n{base}/clip.mp4?n=1\n#EXTINF:-1,Second clip\nclip.mp4?n=2\n"
        )
        bare = f"{base}/clip.mp4?b=1\n{base}/clip.mp4?b=2\n"
        (root / "bare.m3u").write_text(bare)
        (root / "bare-typed.m3u8").write_text(bare)  # application/vnd.apple.mpegurl: yt-dlp fails on it
        (root / "long.m3u").write_text("".join(f"{base}/clip.mp4?l={i}\n" for i in range(CLIPS)))
        (root / "huge.m3u").write_bytes(b"#EXTM3U\n" + b"#" * (MAX_M3U_BYTES + 10) + b"\n")
        make_hls(root / "hls", root / "clip.mp4")
        (root / "master.m3u8").write_text(
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=64x64\n{BASE}/hls/index.m3u8\n"
        )
        yield server


async def _extract(url: str, config: ChildConfig | None = None) -> SourceInfo:
    pool = InfoPool(config or ChildConfig(allow_private_networks=True), timeout_s=30)
    try:
        return await pool.extract(url)
    finally:
        await pool.close()


def _clip_paths(server: MediaServer) -> list[str]:
    return [r.path for r in server.requests if r.path.split("?")[0] == "/clip.mp4"]


async def test_a_plain_m3u_is_a_playlist_of_its_urls(lists: MediaServer) -> None:
    """Extended (yt-dlp: one HLS stream of two m3u8_native "formats"), bare (one direct file) and bare as
    HLS's type (yt-dlp: an error) alike: a playlist of its URLs, titles and durations as listed, relative URLs
    resolved, no format, and no entry fetched."""
    lists.clear_requests()
    extended, bare, typed = await asyncio.gather(
        _extract(lists.url("list.m3u")),
        _extract(lists.url("bare.m3u")),
        _extract(lists.url("bare-typed.m3u8")),
    )
    assert (extended.kind, extended.entries_count, extended.formats_count) == ("playlist", 2, 0)
    assert [e.model_dump() for e in extended.entries] == [
        {"title": "First clip", "url": lists.url("clip.mp4?n=1"), "duration": 2.0},
        {"title": "Second clip", "url": lists.url("clip.mp4?n=2"), "duration": None},  # -1: unknown
    ]
    assert (extended.title, extended.webpage_url, extended.ext) == ("list.m3u", lists.url("list.m3u"), None)
    for listed in (bare, typed):
        assert (listed.kind, listed.entries_count, listed.formats_count) == ("playlist", 2, 0)
        assert [e.url for e in listed.entries] == [lists.url("clip.mp4?b=1"), lists.url("clip.mp4?b=2")]
    # the entries are listed flat, as any playlist's, not resolved one by one; yt-dlp itself, taking the
    # extended list for an HLS master, sniffs 512 bytes of its first "variant" (its live-status check)
    assert _clip_paths(lists) in ([], ["/clip.mp4?n=1"])


async def test_the_preview_and_count_of_a_long_list_and_a_list_behind_a_redirect(lists: MediaServer) -> None:
    """`playlist_preview` entries and the whole count, as for a yt-dlp playlist; a list reached through a
    redirect resolves its relative URLs against its own address."""
    target = lists.url("list.m3u")
    long, redirected = await asyncio.gather(
        _extract(lists.url("long.m3u"), ChildConfig(allow_private_networks=True, playlist_preview=3)),
        _extract(lists.url(f"redirect?to={target}")),
    )
    assert (long.kind, long.entries_count) == ("playlist", CLIPS)
    assert [e.url for e in long.entries] == [lists.url(f"clip.mp4?l={i}") for i in range(3)]
    assert redirected.kind == "playlist"
    assert [e.url for e in redirected.entries] == [lists.url("clip.mp4?n=1"), lists.url("clip.mp4?n=2")]


async def test_real_hls_stays_one_video_and_a_huge_list_fails_for_good(lists: MediaServer) -> None:
    media, master = await asyncio.gather(
        _extract(lists.url("hls/index.m3u8")), _extract(lists.url("master.m3u8"))
    )
    for hls in (media, master):
        assert (hls.kind, hls.entries_count, hls.entries) == ("video", None, [])
        assert hls.formats
        assert all((f.protocol or "").startswith("m3u8") for f in hls.formats)
    with pytest.raises(ChildFailed) as failed:
        await _extract(lists.url("huge.m3u"))
    assert (failed.value.kind, failed.value.error_type) == ("permanent", "M3uTooLargeError")
    assert "larger than 8 MiB" in failed.value.message


class _Turncoat(QuietHandler):
    """The list to yt-dlp's two requests (a sniff, then the "HLS manifest"); then a redirect to the first URL
    of the server's `app` (an internal host): what reading the list again meets."""

    server: BackgroundHTTPServer[list[str]]

    def do_GET(self) -> None:
        served = self.server.app
        with _LOCK:
            to_yt_dlp = len(served) <= 2
            served.append(self.path)
        if to_yt_dlp:
            body = (
                b"#EXTM3U\n#EXTINF:1,A\nhttp://media.example/a.mp4\n#EXTINF:1,B\nhttp://media.example/b.mp4\n"
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(302)
        self.send_header("Location", served[0])
        self.send_header("Content-Length", "0")
        self.end_headers()


_LOCK = threading.Lock()


async def test_reading_the_list_again_passes_the_connect_guard(tmp_path: Path) -> None:
    """The list is read again through yt-dlp's own opener, under the child's connect guard: a second answer
    redirecting to an address off the allowlist fails as BlockedAddressError, that address never reached."""
    (tmp_path / "list.m3u").write_text("#EXTM3U\nhttp://media.example/a.mp4\n")
    with MediaServer(tmp_path, host="127.0.0.2") as internal:
        served = [internal.url("list.m3u")]
        server: BackgroundHTTPServer[list[str]] = BackgroundHTTPServer(served, _Turncoat)
        server.start()
        try:
            config = ChildConfig(allow_private_networks=False, allowed_networks=["127.0.0.1/32"])
            with pytest.raises(ChildFailed) as failed:
                await _extract(f"{server.base_url}/list.m3u", config)
        finally:
            server.stop()
        assert (failed.value.kind, failed.value.error_type) == ("permanent", "BlockedAddressError")
        assert "127.0.0.2" in failed.value.message
        assert served[1:] == ["/list.m3u"] * 3  # read by yt-dlp, then again
        assert internal.requests == []


# -- end to end ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def metadata_client(
    redis_url: str, otlp: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[JobClient]:
    """A `python -m metadata` process previewing 2 entries of a playlist, on its own Redis database."""
    url = redis_url.rsplit("/", 1)[0] + f"/{DB}"
    media_root = tmp_path_factory.mktemp("m3u_info_media")
    redis = Redis.from_url(url, decode_responses=True)
    await redis.flushdb()
    client = JobClient(CommonSettings(redis_url=url, media_root=media_root))
    await client.start()
    env = service_env(url, media_root, otlp, METADATA_PLAYLIST_PREVIEW="2", METADATA_EXTRACT_TIMEOUT_S="30")
    proc = ServiceProcess("metadata", env)
    proc.start()
    try:
        beat = keys.service("metadata", f"{socket.gethostname()}-*-{proc.pid}")
        deadline = time.monotonic() + 60
        while not [key async for key in redis.scan_iter(match=beat)]:
            if time.monotonic() > deadline or not proc.alive():
                raise AssertionError(f"metadata did not come up:\n{proc.output()}")
            await asyncio.sleep(0.1)
        yield client
    finally:
        proc.stop()
        await client.close()
        await redis.flushdb()
        await redis.aclose()


async def test_video_info_of_a_plain_m3u_reports_its_entries(
    metadata_client: JobClient, lists: MediaServer
) -> None:
    """`video_info` of an M3U list of media URLs: a playlist with METADATA_PLAYLIST_PREVIEW of its entries
    and their count, as the downloader's `playlist_download` would list them."""
    job = (await metadata_client.submit({"job_type": "video_info", "url": lists.url("long.m3u")})).job
    done = await metadata_client.wait(job.task_id, timeout=60)
    assert done.status == JobStatus.SUCCEEDED, done.error
    result = done.result or {}
    assert (result["kind"], result["entries_count"], result["formats_count"]) == ("playlist", CLIPS, 0)
    assert [e["url"] for e in result["entries"]] == [lists.url("clip.mp4?l=0"), lists.url("clip.mp4?l=1")]
