"""Downloader features against local servers only: formats and merges, extra files, playlists, resume and
integrity, limits, bandwidth, the SSRF allowlist, hostile file names, and 50 downloads in one process.

Most tests drive the child runner directly (fast: children are forked from the pre-imported zygote); the
last ones run real downloader processes on a private Redis database (14).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from downloader import resume
from downloader.bandwidth import BandwidthPool
from downloader.child_protocol import ChildSpec, DoneEvent, ProgressEvent
from downloader.child_runner import ChildControl, list_entries, run_child
from downloader.disk import free_space
from downloader.download import check_free_space
from downloader.failures import InsufficientSpaceError
from downloader.file_names import safe_language
from downloader.progress_hook import UNSIZED_SPACE_CHECK_BYTES, ProgressTracker
from downloader.settings import DownloaderSettings
from downloader.specs import format_selector
from downloader.throttle import Throttle
from downloader.ytdlp_params import build_params
from jobcommon import JobClient, JobStatus, TransientError
from jobcommon.child_process import ChildFailed
from jobcommon.netguard import is_allowed_ip, parse_networks
from jobcommon.requests import DownloadOptions, VideoDownloadRequest
from tests.cluster import Cluster
from tests.conftest import private_cluster
from tests.processes import descendants, download_children
from tests.support.downloads import FEED_TITLES, ODD_PATH, write_download_site
from tests.support.httpserver import MediaServer
from tests.support.localhttp import BackgroundHTTPServer, QuietHandler
from tests.support.media import _ffmpeg, probe, sha256_file
from tests.support.otlp import OtlpReceiver
from tests.support.specs import child_spec

MB = 1_000_000

# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_download_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[MediaServer]:
    with MediaServer(site) as srv:
        yield srv


@pytest.fixture
def log(server: MediaServer) -> MediaServer:
    server.clear_requests()
    return server


class _Progress:
    def __init__(self, on_bytes: Any = None) -> None:
        self.events: list[ProgressEvent] = []
        self.stages: list[str] = []
        self.first_bytes_at: float | None = None
        self._on_bytes = on_bytes

    async def __call__(self, event: ProgressEvent) -> None:
        if event.downloaded_bytes is None:
            self.stages.append(event.stage)
            return
        self.events.append(event)
        if self.first_bytes_at is None:
            self.first_bytes_at = time.monotonic()
        if self._on_bytes is not None:
            self._on_bytes(event)


async def _download(spec: ChildSpec, **kwargs: Any) -> DoneEvent | ChildFailed:
    try:
        return await run_child(spec, _Progress(), **kwargs)
    except ChildFailed as failure:
        return failure


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def _range_starts(server: MediaServer, path: str) -> list[int]:
    """Start offsets of the ranged GETs for ``path`` (the resume guard's 0-0 probes excluded)."""
    starts = []
    for record in server.requests_for(path):
        if record.method == "GET" and record.range and record.range != "bytes=0-0":
            starts.append(int(record.range.removeprefix("bytes=").split("-")[0]))
    return starts


# --------------------------------------------------------------------------------------------
# options, settings, guard rules (no processes)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"format": "best", "max_height": 720}, "format"),
        ({"format": "best", "audio_only": True}, "format"),
        ({"audio_only": True, "max_height": 480}, "max_height"),
        ({"audio_only": True, "container": "mp4"}, "container"),
        ({"container": "avi"}, "container"),
        ({"subtitles": []}, "subtitles"),
        ({"subtitles": ["../x"]}, "subtitles"),
        ({"max_height": 0}, "max_height"),
        ({"write_thumbnails": True}, "write_thumbnails"),
    ],
)
def test_contradictory_or_invalid_options_are_rejected(options: dict[str, Any], reason: str) -> None:
    """Contradictory or invalid download options fail validation with one clear reason."""
    with pytest.raises(ValidationError) as info:
        VideoDownloadRequest(url="https://example.com/v.mp4", options=DownloadOptions.model_validate(options))
    text = str(info.value)
    assert reason in text
    assert text.count("\n") < 6  # one clear reason, not a wall of text


async def test_contradictory_options_answer_422_with_the_reason(api: httpx.AsyncClient) -> None:
    """The gateway answers contradictory options with 422 and the reason."""
    body = {
        "job_type": "video_download",
        "url": "https://example.com/v.mp4",
        "options": {"audio_only": True, "max_height": 720},
    }
    response = await api.post("/jobs/submit", json=body)
    assert response.status_code == 422
    assert "'audio_only' has no video, so 'max_height' makes no sense with it" in response.text


def test_options_become_ytdlp_params(tmp_path: Path) -> None:
    """Download options and limits become the matching yt-dlp parameters."""
    spec = child_spec(
        tmp_path,
        "http://example.com/v",
        format=format_selector(DownloadOptions(max_height=480)),
        container="mp4",
        subtitle_languages=["en", "de"],
        write_thumbnail=True,
        write_info_json=True,
        rate_limit=123_456,
        max_filesize=1000,
    )
    params = build_params(spec, lambda d: None, object())
    assert params["format"] == "bv*[height<=?480]+ba/b[height<=?480]/bv*[height<=?480]"
    assert params["merge_output_format"] == "mp4"
    assert params["postprocessors"] == [{"key": "FFmpegVideoRemuxer", "preferedformat": "mp4"}]
    assert params["format_sort"] == ["ext:mp4:m4a"]
    assert (params["writesubtitles"], params["subtitleslangs"]) == (True, ["en", "de"])
    assert (params["writethumbnail"], params["writeinfojson"]) == (True, True)
    assert (params["ratelimit"], params["max_filesize"]) == (123_456, 1000)
    assert params["outtmpl"] == "media.%(ext)s"
    assert params["paths"] == {"home": str(tmp_path / "out"), "temp": str(tmp_path / "tmp")}
    audio = build_params(child_spec(tmp_path, "http://x/", audio_only=True), lambda d: None, object())
    assert audio["format"] == "bestaudio/best"
    assert audio["postprocessors"] == [{"key": "FFmpegExtractAudio", "preferredcodec": "best"}]


def test_valid_options_and_their_format_strings() -> None:
    """Valid options pass and map to the expected yt-dlp format selectors."""
    assert format_selector(DownloadOptions()) is None
    assert format_selector(DownloadOptions(format="best[height<=720]")) == "best[height<=720]"
    assert format_selector(DownloadOptions(audio_only=True)) == "bestaudio/best"
    assert format_selector(DownloadOptions(max_height=720, container="mkv")) == (
        "bv*[height<=?720]+ba/b[height<=?720]/bv*[height<=?720]"
    )
    options = DownloadOptions(subtitles=["en", "pt-BR", "all", "-live_chat"], write_thumbnail=True)
    assert options.subtitles == ["en", "pt-BR", "all", "-live_chat"]
    smuggled = "http://127.0.0.1:1/clip.mp4?ep=1#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22ep1%22%7D"
    assert VideoDownloadRequest(url=smuggled).url == smuggled


def test_settings_parse_sizes_networks_and_switch_limits_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings parse size suffixes and network lists; 0 switches a limit off."""
    defaults = DownloaderSettings()
    assert defaults.download_max_filesize == 8 * 1024**3
    assert defaults.download_min_free_bytes == 1024**3
    assert defaults.download_max_duration_s == 6 * 3600
    assert defaults.download_max_playlist_entries == 1000
    assert defaults.download_allowed_networks == []
    monkeypatch.setenv("DOWNLOAD_MAX_FILESIZE", "1.5G")
    monkeypatch.setenv("DOWNLOAD_RATE_LIMIT", "500K")
    monkeypatch.setenv("DOWNLOAD_TOTAL_RATE_LIMIT", "0")
    monkeypatch.setenv("DOWNLOAD_MAX_DURATION_S", "0")
    monkeypatch.setenv("DOWNLOAD_ALLOWED_NETWORKS", "127.0.0.2/32, 10.1.2.3/24")
    settings = DownloaderSettings()
    assert settings.download_max_filesize == int(1.5 * 1024**3)
    assert settings.download_rate_limit == 500 * 1024
    assert settings.download_total_rate_limit is None
    assert settings.download_max_duration_s is None
    assert settings.download_allowed_networks == ["127.0.0.2/32", "10.1.2.0/24"]
    monkeypatch.setenv("DOWNLOAD_ALLOWED_NETWORKS", '["0.0.0.0/0"]')
    with pytest.raises(ValidationError, match="allows every address"):
        DownloaderSettings()


def test_allowlist_widens_only_what_it_names() -> None:
    """The network allowlist admits exactly the networks it names, metadata addresses only by name."""
    networks = parse_networks(["127.0.0.2/32", "10.0.0.0/8", "169.254.0.0/16", "fd00::/8"])
    assert is_allowed_ip("127.0.0.2", networks)
    assert is_allowed_ip("::ffff:127.0.0.2", networks)  # v4-mapped: the v4 address it reaches
    assert not is_allowed_ip("127.0.0.1", networks)
    assert is_allowed_ip("10.200.0.1", networks)
    assert is_allowed_ip("169.254.1.1", networks)
    assert not is_allowed_ip("169.254.169.254", networks)  # metadata: only when named exactly
    assert is_allowed_ip("169.254.169.254", parse_networks(["169.254.169.254/32"]))
    assert not is_allowed_ip("fd00:ec2::254", networks)
    assert is_allowed_ip("fd12::1", networks)
    assert is_allowed_ip("8.8.8.8", ())  # public stays public
    assert not is_allowed_ip("192.168.1.1", networks)
    for bad in (["::/0"], ["0.0.0.0/0"], ["not-a-network"]):
        with pytest.raises(ValueError):  # noqa: PT011
            parse_networks(bad)


def test_resume_rules() -> None:
    """A partial file is kept only when size, validators and range support all match."""
    old = resume.RemoteState("http", "u", size=10, etag='"a"', last_modified="Mon", ranges=True)
    assert resume.resumable(old, old) is None
    assert resume.resumable(None, old) is not None
    assert "size" in str(resume.resumable(old, resume.RemoteState("http", "u", 11, '"a"', "Mon", True)))
    assert "etag" in str(resume.resumable(old, resume.RemoteState("http", "u", 10, '"b"', "Mon", True)))
    assert "last-modified" in str(
        resume.resumable(old, resume.RemoteState("http", "u", 10, '"a"', "Tue", True))
    )
    assert "ranges" in str(resume.resumable(old, resume.RemoteState("http", "u", 10, '"a"', "Mon", False)))
    bare = resume.RemoteState("http", "u", size=10, ranges=True)
    assert "validator" in str(resume.resumable(bare, bare))
    hls = resume.RemoteState("m3u8_native", "http://x/index.m3u8")
    assert resume.resumable(hls, hls) is None
    assert resume.resumable(hls, resume.RemoteState("m3u8_native", "http://x/other.m3u8")) is not None


def test_throttle_paces_bytes_and_follows_rate_changes() -> None:
    """The token bucket paces bytes and applies a new rate without pause or burst."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(100_000, clock=lambda: now[0], sleep=sleep, burst_s=0.0)
    for _ in range(10):
        throttle.consume(50_000)  # 500 KB at 100 KB/s
    assert now[0] == pytest.approx(5.0)
    throttle.set_rate(1_000_000)
    start = now[0]
    for _ in range(10):
        throttle.consume(100_000)  # 1 MB at 1 MB/s: no catch-up burst, no pause
    assert now[0] - start == pytest.approx(1.0)
    throttle.set_rate(None)
    before = len(slept)
    throttle.consume(10**9)
    assert len(slept) == before


def test_bandwidth_pool_divides_the_total_among_running_downloads() -> None:
    """The total bandwidth is split equally among running downloads and re-split as they end."""
    pool = BandwidthPool(9_000)
    with pool.member() as a:
        assert a.share_limit == 9_000
        with pool.member() as b, pool.member() as c:
            assert (a.share_limit, b.share_limit, c.share_limit) == (3_000, 3_000, 3_000)
        assert a.share_limit == 9_000
    assert pool.running == 0
    with BandwidthPool(None).member() as unlimited:
        assert unlimited.share_limit is None


async def test_free_space_threshold(tmp_path: Path) -> None:
    """Free space is measured at the nearest existing folder; too little is a transient error."""
    free = free_space(tmp_path / "not" / "yet" / "there")
    assert abs(free - os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize) < 100 * MB
    low = DownloaderSettings(media_root=tmp_path, download_min_free_bytes=10**18)
    with pytest.raises(TransientError, match="free") as info:
        await check_free_space(low)
    assert info.value.error_type == "InsufficientSpace"
    await check_free_space(DownloaderSettings(media_root=tmp_path, download_min_free_bytes=1))


def test_remote_names_become_safe_file_name_parts() -> None:
    """Remote subtitle languages become short, safe and unique file name parts."""
    taken: set[str] = set()
    names = [safe_language(lang, taken) for lang in ("../../evil", "en", "en", "\x00\n", "z" * 300, None)]
    assert names == ["evil", "en", "en-2", "und", "z" * 32, "und-2"]


def test_write_jail_refuses_writes_outside_the_job_dirs(tmp_path: Path) -> None:
    """The write jail refuses every kind of write outside the job's directories."""
    job, outside = tmp_path / "job", tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep")
    script = f"""
import os, shutil, sys
from downloader.fsjail import install_write_jail, BlockedWriteError
install_write_jail([{str(job)!r}])
refused = []
def attempt(name, fn):
    try:
        fn()
    except BlockedWriteError:
        refused.append(name)
attempt("open", lambda: open({str(outside / "new")!r}, "w"))
attempt("escape", lambda: open({str(job)!r} + "/../outside/new2", "wb"))
attempt("append", lambda: open({str(outside / "victim")!r}, "a"))
attempt("os.open", lambda: os.open({str(outside / "x")!r}, os.O_WRONLY | os.O_CREAT))
attempt("rename", lambda: os.rename({str(outside / "victim")!r}, {str(job / "stolen")!r}))
attempt("remove", lambda: os.remove({str(outside / "victim")!r}))
attempt("symlink", lambda: os.symlink("/etc/passwd", {str(job / "link")!r}))
attempt("rmtree", lambda: shutil.rmtree({str(outside)!r}))
open({str(job / "media.mp4")!r}, "wb").write(b"ok")
os.makedirs({str(job / "sub")!r})
os.replace({str(job / "media.mp4")!r}, {str(job / "sub" / "media.mp4")!r})
print(open({str(outside / "victim")!r}).read(), ",".join(refused))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    content, refused = done.stdout.split()
    assert content == "keep"
    assert refused.split(",") == [
        "open",
        "escape",
        "append",
        "os.open",
        "rename",
        "remove",
        "symlink",
        "rmtree",
    ]
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (job / "sub" / "media.mp4").read_bytes() == b"ok"


# --------------------------------------------------------------------------------------------
# formats, merges, extra files (child runner)
# --------------------------------------------------------------------------------------------


async def test_hls_download_has_the_playlist_duration(log: MediaServer, tmp_path: Path) -> None:
    """An HLS download is fetched natively segment by segment and reports its duration."""
    done = await run_child(child_spec(tmp_path, log.url("hls/index.m3u8")), _Progress())
    assert done.duration == pytest.approx(3.0, abs=0.1)
    media = probe(done.path)
    assert media.duration == pytest.approx(3.0, abs=0.1)
    assert media.video_codec == "h264"
    assert len(log.requests_for(".ts")) == 3


async def test_separate_video_and_audio_are_merged_by_ffmpeg(server: MediaServer, tmp_path: Path) -> None:
    """Separate video and audio formats are merged into the container asked for."""
    mpd = server.url("av/av.mpd")
    default_mkv, explicit_mp4, by_height, too_small = await asyncio.gather(
        _download(child_spec(tmp_path / "a", mpd, container="mkv")),
        _download(child_spec(tmp_path / "b", mpd, format="bv+ba", container="mp4")),
        _download(child_spec(tmp_path / "c", mpd, format=format_selector(DownloadOptions(max_height=240)))),
        _download(child_spec(tmp_path / "d", mpd, format=format_selector(DownloadOptions(max_height=200)))),
    )
    for done, ext in ((default_mkv, "mkv"), (explicit_mp4, "mp4"), (by_height, None)):
        assert isinstance(done, DoneEvent), done
        if ext is not None:
            assert done.ext == ext
        media = probe(done.path)
        assert (media.video_codec, media.audio_codec) == ("h264", "aac")
        assert media.duration == pytest.approx(5.0, abs=0.1)
        assert (done.width, done.height) == (320, 240)
        assert done.sha256 == sha256_file(Path(done.path))
        assert _files(Path(done.path).parent) == [Path(done.path).name]  # the separate streams are gone
    assert isinstance(too_small, ChildFailed)
    assert (too_small.kind, too_small.error_type) == ("permanent", "ExtractorError")
    assert "format is not available" in too_small.message


async def test_audio_only_keeps_just_the_audio(server: MediaServer, tmp_path: Path) -> None:
    """audio_only keeps only the audio stream, without dimensions."""
    done = await run_child(
        child_spec(tmp_path, server.url("muxed.mp4"), format="bestaudio/best", audio_only=True), _Progress()
    )
    assert done.ext == "m4a"
    media = probe(done.path)
    assert (media.video_codec, media.audio_codec) == (None, "aac")
    assert done.duration == pytest.approx(5.0, abs=0.1)
    assert (done.width, done.height) == (None, None)
    assert _files(tmp_path / "out") == ["media.m4a"]


async def test_subtitles_thumbnail_and_info_json_stay_in_the_job_dir(
    server: MediaServer, tmp_path: Path
) -> None:
    """Subtitles, thumbnail and info JSON land in the job dir under safe names."""
    spec = child_spec(
        tmp_path / "job",
        server.url("subs.html"),
        subtitle_languages=["all"],
        write_thumbnail=True,
        write_info_json=True,
    )
    done = await run_child(spec, _Progress())
    out = tmp_path / "job" / "out"
    languages = sorted(e.language or "" for e in done.extra_files if e.kind == "subtitle")
    assert languages == [
        "en",
        "en_31m",
        "evil",
        "y" * 32,
    ]  # from "en", "en\a\x1b[31m", "../../evil", "y" * 300
    kinds = sorted(e.kind for e in done.extra_files)
    assert kinds == ["info_json", "subtitle", "subtitle", "subtitle", "subtitle", "thumbnail"]
    _check_extra_files(done, out, tmp_path)


def _check_extra_files(done: DoneEvent, out: Path, root: Path) -> None:
    for extra in done.extra_files:
        path = Path(extra.path)
        assert path.parent == out
        assert path.stat().st_size == extra.size
        assert all(c.isalnum() or c in "._-" for c in path.name), path.name
    assert json.loads((out / "media.info.json").read_text())["title"] == "Subs page (1)"
    assert (out / "media.en.vtt").read_text().startswith("WEBVTT")
    assert (out / "media.jpg").read_bytes()[:2] == b"\xff\xd8"
    # nothing was written anywhere else
    assert {p.parent for p in root.rglob("*") if p.is_file()} <= {out, out.parent / "tmp"}


async def test_remote_file_names_cannot_leave_the_job_dir(server: MediaServer, tmp_path: Path) -> None:
    """No remote-supplied name can make a download write outside its job dir."""
    urls = {
        "disposition": server.url(
            "clip.mp4?disposition=" + "attachment%3B%20filename%3D%22..%2F..%2Fevil.sh%22"
        ),
        "absolute": server.url(
            "clip.mp4?disposition=" + "attachment%3B%20filename%3D%22%2Ftmp%2Fevil.mp4%22"
        ),
        "query": server.url("clip.mp4?name=/../../evil.sh&x=..%2F..%2F"),
        "odd": server.url(ODD_PATH),
    }
    outcomes = await asyncio.gather(*(_download(child_spec(tmp_path / n, u)) for n, u in urls.items()))
    for name, done in zip(urls, outcomes, strict=True):
        assert isinstance(done, DoneEvent), (name, done)
        assert done.path == str(tmp_path / name / "out" / "media.mp4")
        assert _files(tmp_path / name / "out") == ["media.mp4"]
    assert not _evil_files(tmp_path)


def _evil_files(root: Path) -> list[Path]:
    return [p for p in (*root.rglob("*evil*"), Path("/tmp/evil.mp4"), Path("/tmp/evil.sh")) if p.exists()]


# --------------------------------------------------------------------------------------------
# playlists
# --------------------------------------------------------------------------------------------


async def test_list_entries_of_a_feed_and_download_one(server: MediaServer, tmp_path: Path) -> None:
    """A feed lists its http entries (selected, capped or single), and an entry downloads."""
    feed = server.url("feed.rss")
    listed, items, capped, single = await asyncio.gather(
        list_entries(child_spec(tmp_path / "a", feed, action="list")),
        list_entries(child_spec(tmp_path / "b", feed, action="list", playlist_items="2-3,9")),
        list_entries(child_spec(tmp_path / "c", feed, action="list", max_entries=2, playlist_limit=50)),
        list_entries(child_spec(tmp_path / "d", server.url("clip.mp4"), action="list")),
    )
    assert listed.title == "Clip feed"
    assert [e.title for e in listed.entries] == FEED_TITLES
    assert (listed.playlist, listed.truncated, listed.skipped) == (True, False, 1)  # the ftp:// one
    assert listed.entries[0].duration == 3.0
    assert all("#__youtubedl_smuggle=" in e.url for e in listed.entries)
    assert [e.title for e in items.entries] == FEED_TITLES[1:]
    assert [e.title for e in capped.entries] == FEED_TITLES[:2]
    assert capped.truncated
    assert single.playlist is False
    assert [e.url for e in single.entries] == [server.url("clip.mp4")]

    entry = listed.entries[1]
    request = VideoDownloadRequest(url=entry.url)  # a smuggled URL is a valid video_download URL
    done = await run_child(child_spec(tmp_path / "e", request.url), _Progress())
    assert done.sha256 == sha256_file(server.root / "clip.mp4")


# --------------------------------------------------------------------------------------------
# resume and integrity
# --------------------------------------------------------------------------------------------


async def _crash_midway(spec: ChildSpec, after_bytes: int) -> None:
    """Run the child and SIGKILL its process group once ``after_bytes`` arrived (a crash, like kill -9)."""
    pids: list[int] = []

    def kill(event: ProgressEvent) -> None:
        if (event.downloaded_bytes or 0) >= after_bytes and pids:
            os.killpg(pids[0], signal.SIGKILL)

    with pytest.raises(ChildFailed) as info:
        await run_child(spec, _Progress(kill), on_spawn=pids.append)
    assert info.value.error_type == "ChildCrashed"
    assert "SIGKILL" in info.value.message
    part = Path(spec.temp_dir) / "media.mp4.part"
    assert part.stat().st_size >= after_bytes


async def test_resume_after_kill_continues_with_range_and_identical_bytes(
    log: MediaServer, tmp_path: Path
) -> None:
    """A killed download resumes with a Range request and ends with identical bytes."""
    spec = child_spec(tmp_path, log.url("slow/mid.mp4"))
    await _crash_midway(spec, MB // 2)
    kept = (tmp_path / "tmp" / "media.mp4.part").stat().st_size
    log.clear_requests()
    done = await run_child(spec, _Progress())
    assert _range_starts(log, "mid.mp4") == [kept]
    assert done.resumed_from == kept
    assert done.sha256 == sha256_file(log.root / "mid.mp4")
    assert sha256_file(Path(done.path)) == done.sha256


@pytest.mark.parametrize("change", ["size", "content"])
async def test_changed_remote_file_restarts_from_zero(log: MediaServer, tmp_path: Path, change: str) -> None:
    """A remote file changed since the crash is downloaded again from zero, never spliced."""
    served = log.root / f"changing-{change}.mp4"
    original = (log.root / "mid.mp4").read_bytes()
    served.write_bytes(original)
    spec = child_spec(tmp_path, log.url(f"slow/{served.name}"))
    await _crash_midway(spec, MB // 2)
    if change == "size":
        new = b"\0" * 1000 + original  # 1000 bytes inserted: what made yt-dlp append blindly
    else:
        at = 100_000  # inside the part already on disk: a blind resume would keep the old bytes there
        new = original[:at] + bytes(255 - b for b in original[at : at + 4096]) + original[at + 4096 :]
        assert len(new) == len(original)
    served.write_bytes(new)
    os.utime(served, (time.time() + 5, time.time() + 5))  # a new Last-Modified / ETag
    log.clear_requests()
    done = await run_child(spec, _Progress())
    assert _range_starts(log, served.name) == []  # no resume: from zero
    assert done.resumed_from is None
    assert done.sha256 == hashlib.sha256(new).hexdigest()
    assert done.size == len(new)


ANNOUNCED = 1000
"""The Content-Length `_ShortLengthHandler` announces, whatever it sends."""


class _ShortLengthHandler(QuietHandler):
    """A broken server: announces a Content-Length of `ANNOUNCED` bytes, then sends its whole body."""

    server: BackgroundHTTPServer[bytes]

    def do_GET(self) -> None:
        self.close_connection = True
        self.send_response(200)
        for name, value in (("Content-Type", "video/mp4"), ("Content-Length", str(ANNOUNCED))):
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        with contextlib.suppress(ConnectionError):
            self.wfile.write(self.server.app)


async def test_a_download_that_is_no_playable_media_fails_permanently(
    site: Path, server: MediaServer, tmp_path: Path
) -> None:
    """A 200 answer that is no media (HTML or a playlist served as video/mp4) or an mp4 cut short (without
    its moov; a Content-Length smaller than the file) fails permanently, saying what the bytes are, without a
    host path, and leaves no partial file to resume."""
    clip = (site / "clip.mp4").read_bytes()  # moov at the end (cv2 writes it last)
    bad = site / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "page.mp4").write_bytes(b"<html><body>Not found</body>")
    (bad / "list.mp4").write_bytes(b"#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:1.0,\nseg0.ts\n#EXT-X-ENDLIST\n")
    (bad / "cut.mp4").write_bytes(clip[:30_000])
    mdat_at = clip.index(b"mdat") - 4
    mdat_end = mdat_at + int.from_bytes(clip[mdat_at : mdat_at + 4], "big")
    (bad / "nomoov.mp4").write_bytes(clip[: clip.index(b"moov") - 4])  # every byte up to the index
    lying = BackgroundHTTPServer(clip, _ShortLengthHandler)
    lying.start()
    try:
        urls = {name: server.url(f"bad/{name}.mp4") for name in ("page", "list", "cut", "nomoov")}
        urls["short"] = f"{lying.base_url}/clip.mp4"
        outcomes = await asyncio.gather(*(_download(child_spec(tmp_path / n, u)) for n, u in urls.items()))
    finally:
        lying.stop()
    expected = {
        "page": ("NotMediaError", "not a media file: its content is text starting '<html><body>'"),
        "list": ("NotMediaError", "not a media file: its content is a playlist (hls)"),
        "cut": ("BrokenMediaError", "not a playable media file: the mp4 is cut short: its 'mdat' box ends"),
        "nomoov": ("BrokenMediaError", "not a playable media file: the mp4 has no 'moov' box"),
        "short": ("BrokenMediaError", f"the mp4 is cut short: its 'mdat' box ends at byte {mdat_end:,}"),
    }
    for name, failure in zip(urls, outcomes, strict=True):
        error_type, words = expected[name]
        assert isinstance(failure, ChildFailed), (name, failure)
        assert (failure.kind, failure.error_type) == ("permanent", error_type), (name, failure)
        assert words in failure.message, (name, failure.message)
        assert str(tmp_path) not in failure.message, name
        assert _files(tmp_path / name / "tmp") == [], name  # nothing kept to resume
    assert isinstance(cut := outcomes[2], ChildFailed)
    assert f"but the file has {30_000:,} bytes" in cut.message
    assert isinstance(short := outcomes[4], ChildFailed)
    assert f"but the file has {ANNOUNCED:,} bytes" in short.message


def test_media_check_passes_every_container_ytdlp_writes(site: Path, tmp_path: Path) -> None:
    """The check fails only what is positively no media or an mp4 cut short: every audio and video container
    yt-dlp may write passes (moov first, last or fragmented), as do images and bytes of no known format."""
    from downloader.media_check import check_media

    video = ["-f", "lavfi", "-i", "testsrc=size=176x144:rate=10:duration=1"]
    audio = ["-f", "lavfi", "-i", "sine=duration=1"]
    av = [*video, *audio, "-c:v", "libx264", "-c:a", "aac"]
    made = {
        "faststart.mp4": [*av, "-movflags", "+faststart"],
        "fragmented.mp4": [*av, "-movflags", "frag_keyframe+empty_moov+default_base_moof"],
        "clip.mov": [*video, "-c:v", "libx264"],
        "clip.3gp": [*video, "-c:v", "mpeg4"],
        "clip.webm": [*video, *audio, "-c:v", "libvpx", "-c:a", "libopus"],
        "clip.mkv": av,
        "clip.ts": [*video, "-c:v", "libx264"],
        "clip.flv": [*video, "-c:v", "flv"],
        "clip.avi": [*video, "-c:v", "mpeg4"],
        "sound.mp3": [*audio, "-c:a", "libmp3lame"],
        "sound.ogg": [*audio, "-c:a", "libvorbis"],
        "sound.opus": [*audio, "-c:a", "libopus"],
        "sound.flac": audio,
        "sound.wav": audio,
        "sound.aac": [*audio, "-c:a", "aac", "-f", "adts"],
    }
    for name, args in made.items():
        _ffmpeg(*args, str(tmp_path / name))
    (tmp_path / "unknown.bin").write_bytes(b"\0" * 1000 + (site / "clip.mp4").read_bytes())
    served = [site / "clip.mp4", site / "muxed.mp4", site / "av" / "audio_only.m4a", site / "poster.jpg"]
    for path in [*served, *(tmp_path / name for name in made), tmp_path / "unknown.bin"]:
        found = check_media(path)
        assert found.kind in ("video", "audio", "image", "unknown"), (path.name, found)


# --------------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------------


async def test_size_limit_fails_permanently_and_leaves_no_partial(log: MediaServer, tmp_path: Path) -> None:
    """Exceeding the size limit fails permanently and leaves no partial file."""
    known, unknown = await asyncio.gather(
        _download(child_spec(tmp_path / "known", log.url("slow/big.mp4"), max_filesize=1 * MB)),
        _download(child_spec(tmp_path / "hls", log.url("slow/hls/index.m3u8"), max_filesize=40_000)),
    )
    for name, failure in (("known", known), ("hls", unknown)):
        assert isinstance(failure, ChildFailed), failure
        assert (failure.kind, failure.error_type) == ("permanent", "FileTooLargeError"), name
        assert _files(tmp_path / name / "tmp") == [], name
        assert _files(tmp_path / name / "out") == [], name
    hls_segments = [r for r in log.requests_for(".ts") if r.status in (200, 206)]
    assert 0 < len(hls_segments) < 3  # stopped midway, not after everything


async def test_duration_limit_rejects_known_durations_before_downloading(
    log: MediaServer, tmp_path: Path
) -> None:
    """Media longer than the limit fails permanently, before its bytes are downloaded."""
    hls, direct = await asyncio.gather(
        _download(child_spec(tmp_path / "hls", log.url("hls/index.m3u8"), max_duration=2.0)),
        _download(child_spec(tmp_path / "direct", log.url("clip.mp4"), max_duration=2.0)),
    )
    for failure in (hls, direct):
        assert isinstance(failure, ChildFailed), failure
        assert (failure.kind, failure.error_type) == ("permanent", "DurationTooLongError")
        assert "limit is 2 s" in failure.message
    assert log.requests_for(".ts") == []  # known from the playlist: nothing downloaded


async def test_bandwidth_share_paces_and_follows_control_messages(
    server: MediaServer, tmp_path: Path
) -> None:
    """A child paces to its bandwidth share and follows a new share sent while it runs."""
    size = (server.root / "big.mp4").stat().st_size
    paced = _Progress()
    control = ChildControl(share_limit=200_000)
    sped_up_at: list[float] = []

    def speed_up(event: ProgressEvent) -> None:
        if not sped_up_at and (event.downloaded_bytes or 0) > 100_000:
            sped_up_at.append(time.monotonic())
            control.set_share_limit(100 * MB)

    async def timed(spec: ChildSpec, progress: _Progress, **kwargs: Any) -> float:
        await run_child(spec, progress, **kwargs)
        assert progress.first_bytes_at is not None
        return time.monotonic() - progress.first_bytes_at

    paced_s, changed_s = await asyncio.gather(
        timed(child_spec(tmp_path / "a", server.url("big.mp4"), share_limit=1_500_000), paced),
        timed(child_spec(tmp_path / "b", server.url("big.mp4")), _Progress(speed_up), control=control),
    )
    assert paced_s >= size / 1_500_000 - 0.5  # ~2.5 s at 1.5 MB/s (0.25 s burst allowed)
    assert changed_s < size / 200_000 / 2  # 200 KB/s would take ~19 s


async def test_inactivity_timeout_stops_a_silent_download(server: MediaServer, tmp_path: Path) -> None:
    """A download that receives nothing for the inactivity timeout stops transiently."""
    started = time.monotonic()
    failure = await _download(
        child_spec(tmp_path, server.url("stall/big.mp4"), socket_timeout=60.0), inactivity_timeout=1.0
    )
    assert isinstance(failure, ChildFailed)
    assert (failure.kind, failure.error_type) == ("transient", "DownloadStalled")
    assert time.monotonic() - started < 6.0
    assert (tmp_path / "tmp" / "media.mp4.part").exists()  # kept to resume


async def test_not_enough_disk_space_for_the_announced_size_is_transient(
    server: MediaServer, tmp_path: Path
) -> None:
    """Too little disk for the announced size is a transient InsufficientSpaceError."""
    failure = await _download(child_spec(tmp_path, server.url("big.mp4"), min_free_bytes=10**18))
    assert isinstance(failure, ChildFailed)
    assert (failure.kind, failure.error_type) == ("transient", "InsufficientSpaceError")


def test_a_stream_of_unannounced_size_stops_when_the_disk_runs_low(tmp_path: Path) -> None:
    """A live or endless stream announces no size: its free disk is checked again after every 64 MiB, so it
    stops (transient InsufficientSpaceError) when MEDIA_ROOT runs low instead of filling it."""
    events: list[object] = []
    low = ProgressTracker(events.append, None, disk_path=str(tmp_path), min_free_bytes=10**18)
    step = UNSIZED_SPACE_CHECK_BYTES
    low({"status": "downloading", "downloaded_bytes": step - 1, "filename": "live.ts"})  # not yet looked at
    with pytest.raises(InsufficientSpaceError, match="unannounced size"):
        low({"status": "downloading", "downloaded_bytes": step, "filename": "live.ts"})
    roomy = ProgressTracker(events.append, None, disk_path=str(tmp_path), min_free_bytes=1)
    for done in range(0, 5 * step, step // 2):
        roomy({"status": "downloading", "downloaded_bytes": done, "filename": "live.ts"})


# --------------------------------------------------------------------------------------------
# SSRF: the allowlist lets one loopback address through and nothing else
# --------------------------------------------------------------------------------------------


async def test_ssrf_allowlist_admits_the_entry_server_and_nothing_it_points_to(
    site: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """An allowlisted server can be fetched, but not the private servers it points to."""
    internal_root = tmp_path_factory.mktemp("internal")
    (internal_root / "secret.mp4").write_bytes((site / "clip.mp4").read_bytes())
    (internal_root / "seg000.ts").write_bytes((site / "hls" / "seg000.ts").read_bytes())
    entry_root = tmp_path_factory.mktemp("entry")
    (entry_root / "clip.mp4").write_bytes((site / "clip.mp4").read_bytes())
    with MediaServer(internal_root) as internal, MediaServer(entry_root, host="127.0.0.2") as entry:
        secret = internal.url("secret.mp4")
        (entry_root / "page.html").write_text(f'<html><body><video src="{secret}"></video></body></html>')
        (entry_root / "index.m3u8").write_text(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-PLAYLIST-TYPE:VOD\n"
            f"#EXTINF:1.0,\n{internal.url('seg000.ts')}\n#EXT-X-ENDLIST\n"
        )
        guarded = {"allow_private_networks": False, "allowed_networks": ["127.0.0.2/32"]}
        cases = {
            "entry": child_spec(tmp_path / "entry", entry.url("clip.mp4"), **guarded),
            "not_allowed": child_spec(tmp_path / "na", entry.url("clip.mp4"), allow_private_networks=False),
            "redirect": child_spec(tmp_path / "redirect", entry.url(f"redirect?to={secret}"), **guarded),
            "video_src": child_spec(tmp_path / "video", entry.url("page.html"), **guarded),
            "hls_segment": child_spec(tmp_path / "hls", entry.url("index.m3u8"), **guarded),
            "localhost": child_spec(tmp_path / "lh", secret.replace("127.0.0.1", "localhost"), **guarded),
        }
        outcomes = dict(
            zip(cases, await asyncio.gather(*(_download(s) for s in cases.values())), strict=True)
        )
        assert internal.requests == []  # not one request reached the internal server
    assert isinstance(outcomes.pop("entry"), DoneEvent)
    for name, outcome in outcomes.items():
        assert isinstance(outcome, ChildFailed), (name, outcome)
        assert (outcome.kind, outcome.error_type) == ("permanent", "BlockedAddressError"), (name, outcome)
        assert "non-public address" in outcome.message


# --------------------------------------------------------------------------------------------
# real downloader processes (private Redis DB 14)
# --------------------------------------------------------------------------------------------


@pytest.fixture
async def cluster14(redis_url: str, tmp_path: Path, otlp: OtlpReceiver) -> AsyncIterator[Cluster]:
    async with private_cluster(redis_url, 14, tmp_path / "media", otlp) as running:
        yield running


async def _until(client: JobClient, task_id: str, predicate: Any, timeout: float = 30) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            job = await client.get(task_id)
            if predicate(job):
                return job
            await asyncio.sleep(0.05)


async def test_killed_downloader_resumes_the_part_file(cluster14: Cluster, log: MediaServer) -> None:
    """After kill -9 of its service, a download is reclaimed and resumes from its .part file."""
    cluster14.start("downloader", LEASE_S="2")
    cluster14.start("downloader", LEASE_S="2")
    async with JobClient(cluster14.settings) as client:
        url = log.url("slow/big.mp4")
        job = (await client.submit({"job_type": "video_download", "url": url})).job
        running = await _until(client, job.task_id, lambda j: (j.progress.downloaded_bytes or 0) > MB)
        cluster14.kill(cluster14.by_worker(running.worker))  # kill -9 the service and its download
        final = await client.wait(job.task_id, timeout=60)
    assert final.status == JobStatus.SUCCEEDED, cluster14.logs()[-3000:]
    assert final.attempts == 2
    result = final.result
    assert result is not None
    starts = _range_starts(log, "big.mp4")
    assert len(starts) == 1
    assert starts[0] > MB
    assert result["resumed_from"] == starts[0]
    assert result["sha256"] == sha256_file(log.root / "big.mp4")
    assert sha256_file(cluster14.media_root / result["path"]) == result["sha256"]


def _memory(pids: list[int]) -> tuple[int, int]:
    """(sum of VmRSS, sum of Pss) in bytes; Pss splits shared pages among their users."""
    rss = pss = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        rss += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) * 1024
        pss += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")) * 1024
    return rss, pss


async def test_fifty_concurrent_downloads_in_one_process_with_bounded_memory(
    cluster14: Cluster, log: MediaServer
) -> None:
    """Fifty concurrent downloads in one service complete with bounded memory."""
    count = 50
    service = cluster14.start("downloader", CONCURRENCY=str(count))
    size = (log.root / "mid.mp4").stat().st_size
    peak = {"rss": 0, "pss": 0, "running": 0, "service_rss": 0}
    started = time.monotonic()

    async def sample() -> None:
        while True:
            tree = [service.pid, *descendants(service.pid)]
            rss, pss = _memory(tree)
            running = len(download_children(service.pid))
            if running >= peak["running"] and rss > peak["rss"]:
                peak.update(rss=rss, pss=pss, running=running, service_rss=_memory([service.pid])[0])
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    try:
        async with JobClient(cluster14.settings) as client:
            jobs = [
                (
                    await client.submit(
                        {"job_type": "video_download", "url": log.url(f"veryslow/mid.mp4?n={n}")}
                    )
                ).job
                for n in range(count)
            ]
            try:
                finals = await asyncio.gather(*(client.wait(j.task_id, timeout=90) for j in jobs))
            except TimeoutError:
                jobs_now = [await client.get(j.task_id) for j in jobs]
                stuck = [
                    (j.task_id, j.status, j.progress) for j in jobs_now if j.status != JobStatus.SUCCEEDED
                ]
                raise AssertionError(f"{stuck}\n{cluster14.logs()[-4000:]}") from None
    finally:
        sampler.cancel()
    elapsed = time.monotonic() - started
    assert [f.status for f in finals] == [JobStatus.SUCCEEDED] * count, cluster14.logs()[-3000:]
    assert {f.result["size"] for f in finals if f.result} == {size}
    mib = 1024 * 1024
    print(
        f"\n{count} concurrent downloads of {size / 1e6:.1f} MB at ~160 KB/s each in {elapsed:.1f} s; "
        f"peak with {peak['running']} download processes running: VmRSS sum {peak['rss'] / mib:.0f} MiB "
        f"(service {peak['service_rss'] / mib:.0f} MiB), Pss sum {peak['pss'] / mib:.0f} MiB"
    )
    assert peak["running"] >= count * 0.9  # they really ran side by side
    assert peak["rss"] < 6 * 1024 * mib  # ~75 MiB VmRSS per process, shared pages counted each time
    assert peak["pss"] < 2 * 1024 * mib  # what they really use: ~25 MiB each
    assert peak["service_rss"] < 300 * mib
