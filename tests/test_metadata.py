"""The metadata service end to end: a real `python -m metadata` process on its own Redis database, local HTTP
servers, real files under its own MEDIA_ROOT. Plus the pure parts (URL normalization, sniffing, summaries)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from jobcommon import CommonSettings, Job, JobClient, JobStatus, keys
from jobcommon.child_process import ChildFailed
from jobcommon.models import utcnow
from metadata.info_pool import InfoPool
from metadata.info_protocol import ChildConfig
from metadata.normalize import normalize_url, url_hash
from metadata.source_info import summarize
from tests.conftest import service_env
from tests.processes import children, cmdline
from tests.support.httpserver import MediaServer
from tests.support.media import make_mp4
from tests.support.otlp import OtlpReceiver
from tests.support.photos import make_exif_jpeg, make_png
from tests.support.video_pages import FEED_TITLES, write_pages
from tools.procs import ServiceProcess

DB = 13
SERVICE_ENV = {
    "METADATA_EXTRACT_TIMEOUT_S": "20",
    "METADATA_ITEM_RETRY_DELAY_S": "0.1",
    "PROGRESS_INTERVAL_S": "0.1",
}
HUGE = 512 * 1024 * 1024
HLS_AS_MP4 = (
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n/etc/hostname\n#EXT-X-ENDLIST\n"
)


# -- fixtures ------------------------------------------------------------------------------------------


@dataclass
class Metadata:
    """The metadata service under test, its Redis database, MEDIA_ROOT and a client."""

    url: str
    media_root: Path
    otlp: OtlpReceiver
    redis: Redis
    client: JobClient
    proc: ServiceProcess | None = None
    env: dict[str, str] | None = None

    async def configure(self, **env: str) -> None:
        """Run the service with these settings (on top of SERVICE_ENV), restarting it only if they differ."""
        if self.proc is not None and self.env == env:
            return
        self.stop()
        await self.start(**env)

    async def start(self, **env: str) -> None:
        self.env = env
        self.proc = ServiceProcess(
            "metadata", service_env(self.url, self.media_root, self.otlp, **{**SERVICE_ENV, **env})
        )
        self.proc.start()
        beat = keys.service("metadata", f"{socket.gethostname()}-*-{self.proc.pid}")
        deadline = time.monotonic() + 30
        while not [key async for key in self.redis.scan_iter(match=beat)]:
            if time.monotonic() > deadline or not self.proc.alive():
                output = self.proc.output()
                self.stop()
                raise AssertionError(f"metadata service did not come up:\n{output}")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def logs(self) -> str:
        return self.proc.output() if self.proc is not None else ""

    async def run(self, body: dict[str, Any], timeout: float = 30) -> Job:
        job = (await self.client.submit(body)).job
        try:
            return await self.client.wait(job.task_id, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"job {job.task_id} did not finish in {timeout} s\n{self.logs()}") from None

    async def fake_download(self, path: str, source_url: str) -> str:
        """A finished `video_download` job whose output is `path` (as if the downloader had run)."""
        task_id = uuid.uuid4().hex
        job = Job(
            task_id=task_id,
            job_type="video_download",
            queue="video_downloads",
            status=JobStatus.QUEUED,
            created_at=utcnow(),
        )
        await self.client.store.create(job)
        result = {"path": path, "size": 1, "sha256": "0" * 64, "ext": "mp4", "source_url": source_url}
        await self.redis.hset(
            keys.job(task_id), mapping={"status": "succeeded", "result": json.dumps(result)}
        )
        return task_id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    root = tmp_path_factory.mktemp("metadata_served")
    make_mp4(root / "clip.mp4", seconds=3.0)
    write_pages(root)
    with MediaServer(root) as server:
        yield server


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MEDIA_ROOT: videos, photos, a playlist disguised as .mp4 and two huge sparse files."""
    root = tmp_path_factory.mktemp("metadata_media")
    make_mp4(root / "lib" / "a.mp4", seconds=3.0)
    make_mp4(root / "lib" / "b.mp4", seconds=2.0, width=640, height=480)
    (root / "nested" / "deep").mkdir(parents=True)
    (root / "nested" / "deep" / "c.mp4").write_bytes((root / "lib" / "a.mp4").read_bytes())
    make_exif_jpeg(root / "photos" / "p6.jpg", width=96, height=64, orientation=6)
    make_exif_jpeg(root / "photos" / "p8.jpg", orientation=8, taken="2023:12:31 23:59:58", offset="+02:00")
    make_png(root / "photos" / "plain.png")
    (root / "fake").mkdir()
    (root / "fake" / "playlist.mp4").write_text(HLS_AS_MP4)
    (root / "huge").mkdir()
    with (root / "huge" / "sparse.mp4").open("wb") as fh:  # an mp4 header, then 512 MB of (sparse) nothing
        fh.write(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
        fh.truncate(HUGE)
    with (root / "huge" / "zeros.bin").open("wb") as fh:
        fh.truncate(HUGE)
    return root


@pytest.fixture(scope="module")
async def metadata_service(redis_url: str, library: Path, otlp: OtlpReceiver) -> AsyncIterator[Metadata]:
    url = redis_url.rsplit("/", 1)[0] + f"/{DB}"
    redis = Redis.from_url(url, decode_responses=True)
    await redis.flushdb()
    client = JobClient(CommonSettings(redis_url=url, media_root=library))
    await client.start()
    service = Metadata(url, library, otlp, redis, client)
    await service.start()
    yield service
    service.stop()
    await client.close()
    await redis.flushdb()
    await redis.aclose()


@pytest.fixture
async def md(metadata_service: Metadata) -> Metadata:
    """The service with the test settings (private addresses allowed: the media server is on 127.0.0.1)."""
    await metadata_service.configure()
    return metadata_service


def _requests(server: MediaServer, path: str) -> int:
    return len([r for r in server.requests if r.path.split("?")[0] == path])


def _vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _info_children(service_pid: int) -> list[int]:
    return [pid for pid in children(service_pid) if "metadata.info_child" in cmdline(pid)]


# -- video_info ----------------------------------------------------------------------------------------


async def test_video_info_of_a_direct_mp4(md: Metadata, served: MediaServer) -> None:
    """video_info of a direct MP4 URL: title, extension, generic extractor, extracted now."""
    job = await md.run({"job_type": "video_info", "url": served.url("clip.mp4")})
    assert job.status == JobStatus.SUCCEEDED, (job.error, md.logs())
    result = job.result or {}
    assert result["title"] == "clip"
    assert result["ext"] == "mp4"
    assert result["extractor"] == "generic"
    assert result["kind"] == "video"
    assert result["cached"] is False
    assert result["url"] == served.url("clip.mp4")
    assert result["formats_count"] == 1
    assert result["formats"][0]["ext"] == "mp4"
    assert result["upload_date"]  # from Last-Modified
    assert result["duration"] is None  # a direct file says nothing about it; metadata_enrich probes files


async def test_video_info_of_an_html_video_page(md: Metadata, served: MediaServer) -> None:
    """video_info of a <video> page: the html5 extractor's title, poster and formats."""
    job = await md.run({"job_type": "video_info", "url": served.url("page.html")})
    assert job.status == JobStatus.SUCCEEDED, job.error
    result = job.result or {}
    assert result["extractor"] == "html5"
    assert result["title"].startswith("Video page")
    assert result["thumbnail"] == served.url("poster.jpg")
    assert result["thumbnails"] == [{"url": served.url("poster.jpg"), "width": None, "height": None}]
    assert result["formats"][0]["ext"] == "mp4"


async def test_video_info_of_a_json_ld_page(md: Metadata, served: MediaServer) -> None:
    """video_info of a JSON-LD page: description, duration, size and upload date."""
    job = await md.run({"job_type": "video_info", "url": served.url("ld.html")})
    assert job.status == JobStatus.SUCCEEDED, job.error
    result = job.result or {}
    assert result["title"] == "LD Video"
    assert result["description"] == "Described in JSON-LD"
    assert (result["duration"], result["width"], result["height"]) == (90.0, 1280, 720)
    assert result["upload_date"] == "2024-03-04"
    assert result["tags"] == ["alpha", "beta"]
    assert result["thumbnail"] == served.url("thumb.jpg")


async def test_video_info_of_an_rss_feed_is_a_playlist_not_resolved_entry_by_entry(
    md: Metadata, served: MediaServer
) -> None:
    """A feed is a playlist listed with one request, its entries not resolved one by one."""
    served.clear_requests()
    job = await md.run({"job_type": "video_info", "url": served.url("feed.rss")})
    assert job.status == JobStatus.SUCCEEDED, job.error
    result = job.result or {}
    assert result["kind"] == "playlist"
    assert result["title"] == "Clip feed"
    assert result["entries_count"] == 3
    assert [e["title"] for e in result["entries"]] == FEED_TITLES
    assert result["entries"][0] == {"title": "Episode 1", "url": served.url("clip.mp4?ep=1"), "duration": 3.0}
    assert _requests(served, "/clip.mp4") == 0  # flat: the entries were listed, not fetched


async def test_second_request_is_served_from_the_cache_and_refresh_bypasses_it(
    md: Metadata, served: MediaServer
) -> None:
    """The same normalized URL is served from the cache until refresh extracts it afresh."""
    base = served.url("ld.html")
    first = await md.run({"job_type": "video_info", "url": f"{base}?b=2&a=1&cache=test"})
    assert first.status == JobStatus.SUCCEEDED, first.error
    assert first.result is not None
    assert first.result["cached"] is False
    normalized = first.result["normalized_url"]
    assert normalized == f"{base}?a=1&b=2&cache=test"
    ttl = await md.redis.ttl(keys.info_cache(url_hash(normalized)))
    assert 0 < ttl <= 24 * 3600

    before = _requests(served, "/ld.html")
    # The same resource spelled differently: upper-case scheme, other parameter order, a fragment.
    again = await md.run({"job_type": "video_info", "url": f"HTTP{base[4:]}?cache=test&a=1&b=2#t=10"})
    assert again.status == JobStatus.SUCCEEDED, again.error
    assert again.result is not None
    assert again.result["cached"] is True
    assert again.result["cached_at"] == first.result["cached_at"]
    assert again.result["title"] == "LD Video"
    assert _requests(served, "/ld.html") == before  # the server saw nothing

    fresh = await md.run({"job_type": "video_info", "url": f"{base}?a=1&b=2&cache=test", "refresh": True})
    assert fresh.status == JobStatus.SUCCEEDED, fresh.error
    assert fresh.result is not None
    assert fresh.result["cached"] is False
    assert fresh.result["cached_at"] > first.result["cached_at"]
    assert _requests(served, "/ld.html") == before + 1


async def test_http_404_fails_permanently_with_a_one_line_error(md: Metadata, served: MediaServer) -> None:
    """HTTP 404 fails the job permanently, once, with a clean one-line HTTPError."""
    job = await md.run({"job_type": "video_info", "url": served.url("status/404")})
    assert job.status == JobStatus.FAILED
    assert job.attempts == 1  # permanent: not retried
    assert job.error is not None
    assert job.error.type == "HTTPError"
    assert "404" in job.error.message
    assert "\n" not in job.error.message
    assert not job.error.message.startswith("ERROR")
    assert "caused by" not in job.error.message


async def test_http_503_is_retried(md: Metadata, served: MediaServer) -> None:
    """HTTP 503 is transient: retried until the attempts are spent, then dead-lettered."""
    job = await md.run(
        {
            "job_type": "video_info",
            "url": served.url("status/503"),
            "retry": {"max_attempts": 2, "backoff_base_s": 0.1},
        }
    )
    assert job.status == JobStatus.FAILED
    assert job.attempts == 2
    assert job.error is not None
    assert job.error.type == "HTTPError"
    assert job.dead


async def test_cancel_kills_a_stalled_extraction(md: Metadata, served: MediaServer) -> None:
    """Cancelling a stalled extraction kills its child at once; the service keeps serving."""
    job = (await md.client.submit({"job_type": "video_info", "url": served.url("stall/big.html")})).job
    deadline = time.monotonic() + 10
    while not served.requests_for("/stall/big.html"):  # the child is now stuck reading the page
        assert time.monotonic() < deadline, md.logs()
        await asyncio.sleep(0.05)
    stuck = set(_info_children(md.pid))
    started = time.monotonic()
    await md.client.cancel(job.task_id)
    final = await md.client.wait(job.task_id, timeout=5)
    assert final.status == JobStatus.CANCELLED
    assert time.monotonic() - started < 1.5
    await asyncio.sleep(0.2)
    assert stuck - set(_info_children(md.pid))  # the stuck child was killed
    after = await md.run({"job_type": "video_info", "url": served.url("page.html")})
    assert after.status == JobStatus.SUCCEEDED, after.error


async def test_a_burst_of_lookups_shares_few_extractor_processes(served: MediaServer) -> None:
    """Concurrent lookups share one or two children; a failed extraction leaves its child usable."""
    pool = InfoPool(ChildConfig(allow_private_networks=True), timeout_s=20)
    try:
        urls = [served.url(f"clip.mp4?burst={n}") for n in range(8)]
        infos = await asyncio.gather(*(pool.extract(url) for url in urls))
        assert [info.webpage_url for info in infos] == urls
        assert pool.spawned <= 2  # not one interpreter per concurrent lookup
        with pytest.raises(ChildFailed) as failed:
            await pool.extract(served.url("status/404"))
        assert (failed.value.kind, failed.value.error_type) == ("permanent", "HTTPError")
        await pool.extract(served.url("page.html"))  # a failed extraction leaves its child usable
        assert pool.spawned <= 2
    finally:
        await pool.close()


# -- metadata_enrich -----------------------------------------------------------------------------------


def _batch(served: MediaServer, download_id: str, rounds: int) -> tuple[list[str], set[int]]:
    """`rounds` x 20 items; returns them and the indexes expected to fail."""
    pattern: list[tuple[str, bool]] = [
        ("lib/a.mp4", True),
        ("lib/b.mp4", True),
        ("nested/deep/c.mp4", True),
        ("photos/p6.jpg", True),
        ("photos/p8.jpg", True),
        ("photos/plain.png", True),
        (served.url("page.html"), True),
        (served.url("ld.html"), True),
        (served.url("clip.mp4?n={round}"), True),
        (download_id, True),
        ("lib/a.mp4", True),
        ("photos/p6.jpg", True),
        (served.url("feed.rss"), True),
        (served.url("status/404"), False),
        ("missing/nothing-{round}.mp4", False),
        ("fake/playlist.mp4", False),
        ("{unknown_task}", False),
        ("{huge}", False),
        ("lib/b.mp4", True),
        ("photos/p8.jpg", True),
    ]
    items: list[str] = []
    failing: set[int] = set()
    for n in range(rounds):
        for template, ok in pattern:
            huge = "huge/sparse.mp4" if n % 2 == 0 else "huge/zeros.bin"
            items.append(template.format(round=n, unknown_task=uuid.uuid4().hex, huge=huge))
            if not ok:
                failing.add(len(items) - 1)
    return items, failing


async def test_enrich_a_200_item_batch_with_some_failures(md: Metadata, served: MediaServer) -> None:
    """200 items: each recorded with its result or error, summary and progress right, memory flat."""
    warm = await md.run({"job_type": "metadata_enrich", "items": ["lib/a.mp4", "photos/p6.jpg"]})
    assert warm.status == JobStatus.SUCCEEDED, (warm.error, md.logs())
    hwm_before = _vm_hwm_kb(md.pid)

    download_id = await md.fake_download("lib/a.mp4", served.url("ld.html"))
    items, failing = _batch(served, download_id, rounds=10)
    assert len(items) == 200
    started = time.monotonic()
    job = await md.run({"job_type": "metadata_enrich", "items": items, "concurrency": 8}, timeout=45)
    elapsed = time.monotonic() - started
    assert job.status == JobStatus.SUCCEEDED, (job.error, md.logs())
    assert job.result is not None
    assert (job.result["total"], job.result["succeeded"], job.result["failed"]) == (200, 150, 50)
    assert [f["index"] for f in job.result["failures"]] == sorted(failing)[:20]  # the lowest 20, in order
    progress = job.progress
    assert (progress.items_total, progress.items_done, progress.items_failed) == (200, 200, 50)
    assert progress.percent == 100.0

    pages = [await md.client.store.items(job.task_id, offset, 50) for offset in range(0, 200, 50)]
    records = [r for page in pages for r in page]
    assert all(r is not None for r in records)
    by_index: dict[int, dict[str, Any]] = {r["index"]: r for r in records if r is not None}
    assert sorted(by_index) == list(range(200))
    assert {i for i, r in by_index.items() if r["status"] == "failed"} == failing
    assert await md.redis.ttl(keys.job_items(job.task_id)) > 0

    video = by_index[0]["result"]["file"]
    assert video["kind"] == "video"
    assert video["container"] == "mp4"
    assert (video["width"], video["height"], video["fps"], video["frame_count"]) == (320, 240, 25.0, 75)
    assert abs(video["duration"] - 3.0) < 0.05
    assert video["codec"]
    assert video["size"] == (md.media_root / "lib" / "a.mp4").stat().st_size
    assert video["bitrate"] == round(video["size"] * 8 / video["duration"])
    assert (by_index[1]["result"]["file"]["width"], by_index[1]["result"]["file"]["height"]) == (640, 480)
    assert by_index[2]["result"]["file"]["path"] == "nested/deep/c.mp4"

    photo = by_index[3]["result"]["file"]
    assert photo["kind"] == "image"
    assert photo["image_format"] == "JPEG"
    assert (photo["width"], photo["height"], photo["orientation"]) == (96, 64, 6)
    assert (photo["display_width"], photo["display_height"]) == (64, 96)
    assert photo["captured_at"] == "2024-05-06T07:08:09"
    assert photo["camera"] == "Acme Cam 1"
    assert by_index[4]["result"]["file"]["captured_at"] == "2023-12-31T23:59:58+02:00"
    assert by_index[5]["result"]["file"]["image_format"] == "PNG"
    assert "orientation" not in by_index[5]["result"]["file"]

    assert by_index[6]["result"]["source"]["extractor"] == "html5"
    assert by_index[7]["result"]["source"]["duration"] == 90.0
    assert by_index[12]["result"]["source"]["entries_count"] == 3
    assert by_index[27]["result"]["source"]["cached"] is True  # round 2 has ld.html from the cache
    merged = by_index[9]
    assert merged["result"]["file"]["path"] == "lib/a.mp4"
    assert merged["result"]["source"]["title"] == "LD Video"

    assert by_index[13]["error"]["type"] == "HTTPError"
    assert by_index[13]["error"]["retryable"] is False
    assert by_index[14]["error"]["type"] == "SourceError"
    assert "does not exist" in by_index[14]["error"]["message"]
    disguised = by_index[15]["error"]
    assert disguised["type"] == "UnsupportedMediaError"
    assert "playlist" in disguised["message"]
    assert by_index[16]["error"]["type"] == "SourceError"
    assert by_index[17]["error"]["type"] == "MediaUnreadableError"  # huge/sparse.mp4: headers only
    assert by_index[37]["error"]["type"] == "UnsupportedMediaError"  # huge/zeros.bin

    # 2 x 512 MB inputs, yet the service's peak memory barely moved: nothing is read whole.
    grown_mb = (_vm_hwm_kb(md.pid) - hwm_before) / 1024
    assert grown_mb < 100, grown_mb
    assert elapsed < 30, elapsed


async def test_enrich_fails_only_when_every_item_fails(md: Metadata) -> None:
    """A bulk job whose every item failed fails as AllItemsFailed, after one attempt."""
    job = await md.run({"job_type": "metadata_enrich", "items": ["missing/x.mp4", "fake/playlist.mp4"]})
    assert job.status == JobStatus.FAILED
    assert job.attempts == 1
    assert job.error is not None
    assert job.error.type == "AllItemsFailed"
    assert "all 2 items failed" in job.error.message
    assert job.progress.items_failed == 2
    records = await md.client.store.items(job.task_id, 0, 2)
    assert [r["status"] if r else None for r in records] == ["failed", "failed"]


async def test_enrich_retries_an_item_that_failed_transiently(md: Metadata, served: MediaServer) -> None:
    """An item that failed transiently is tried again; its record counts the attempts."""
    served.clear_requests()
    job = await md.run({"job_type": "metadata_enrich", "items": ["lib/a.mp4", served.url("status/503")]})
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result is not None
    assert (job.result["succeeded"], job.result["failed"]) == (1, 1)
    _, flaky = await md.client.store.items(job.task_id, 0, 2)
    assert flaky is not None
    assert flaky["error"] == {
        "type": "HTTPError",
        "message": flaky["error"]["message"],
        "retryable": True,
    }
    assert flaky["attempts"] == 2  # METADATA_ITEM_RETRIES=1
    assert _requests(served, "/status/503") == 2


async def test_enrich_rejects_what_is_neither_url_nor_media_path(md: Metadata) -> None:
    """Items that are neither http(s) URLs nor paths inside MEDIA_ROOT are refused at submit."""
    for bad in ("ftp://example.org/a.mp4", "../outside.mp4", "/etc/passwd"):
        with pytest.raises(ValidationError):
            await md.client.submit({"job_type": "metadata_enrich", "items": ["lib/a.mp4", bad]})


# -- SSRF ----------------------------------------------------------------------------------------------


async def test_private_addresses_are_refused_without_a_single_request(
    metadata_service: Metadata, served: MediaServer
) -> None:
    """Private addresses fail as BlockedAddressError, for jobs and items, with no request made."""
    md = metadata_service
    await md.configure(DOWNLOAD_ALLOW_PRIVATE_NETWORKS="false")  # the next test using `md` restores it
    url = served.url("clip.mp4?ssrf=1")
    job = await md.run({"job_type": "video_info", "url": url})
    assert job.status == JobStatus.FAILED
    assert job.attempts == 1
    assert job.error is not None
    assert job.error.type == "BlockedAddressError"
    assert "127.0.0.1" in job.error.message
    bulk = await md.run({"job_type": "metadata_enrich", "items": [url, "lib/a.mp4"]})
    assert bulk.status == JobStatus.SUCCEEDED
    first, second = await md.client.store.items(bulk.task_id, 0, 2)
    assert first is not None
    assert second is not None
    assert first["error"]["type"] == "BlockedAddressError"
    assert second["status"] == "succeeded"
    assert [r for r in served.requests if "ssrf" in r.path] == []


async def test_an_allowlisted_private_network_may_be_fetched(served: MediaServer) -> None:
    """A private network on the allowlist may be fetched."""
    config = ChildConfig(allow_private_networks=False, allowed_networks=["127.0.0.1/32"])
    pool = InfoPool(config, timeout_s=20)
    try:
        info = await pool.extract(served.url("ld.html?allowlisted=1"))
    finally:
        await pool.close()
    assert info.title == "LD Video"


# -- the pure parts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("HTTP://Example.COM:80/a/./b/../c?b=2&a=1#frag", "http://example.com/a/c?a=1&b=2"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/%7euser/%2f?q=%3a", "https://example.com:8443/~user/%2F?q=%3A"),
        ("http://example.com/?a=2&a=1&0=x", "http://example.com/?0=x&a=2&a=1"),
        ("http://[::1]:80/x", "http://[::1]/x"),
        ("http://bücher.example/", "http://xn--bcher-kva.example/"),
    ],
)
def test_url_normalization(url: str, normalized: str) -> None:
    """URLs normalize to one cache identity (case, ports, dot segments, query order, IDNA)."""
    assert normalize_url(url) == normalized


def test_summary_bounds_lists_and_unsmuggles_entry_urls() -> None:
    """The info summary bounds its lists, dedups tags, unsmuggles entry URLs, picks the best size."""
    info = {
        "_type": "playlist",
        "title": "t",
        "playlist_count": 40,
        "entries": [
            {"title": f"e{n}", "url": f"http://x/{n}.mp4#__youtubedl_smuggle=%7B%7D", "duration": n}
            for n in range(40)
        ],
        "tags": ["a", "a", "b", 3],
    }
    summary = summarize(info, playlist_preview=5)
    assert summary.kind == "playlist"
    assert summary.entries_count == 40
    assert [e.url for e in summary.entries] == [f"http://x/{n}.mp4" for n in range(5)]
    assert summary.tags == ["a", "b", "3"]
    video = summarize(
        {
            "title": "v",
            "upload_date": "20240102",
            "formats": [
                {"format_id": "lo", "width": 320, "height": 240, "vcodec": "none"},
                {"format_id": "hi", "width": 1920, "height": 1080, "vcodec": "avc1"},
            ],
        }
    )
    assert (video.width, video.height) == (1920, 1080)  # best format, when the source has no top-level size
    assert [f.format_id for f in video.formats] == ["hi", "lo"]
    assert video.formats[1].vcodec is None
    assert str(video.upload_date) == "2024-01-02"
