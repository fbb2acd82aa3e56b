"""Playlists disguised as media (issue 9, item 6): an HLS playlist named .mp3 or .mp4, bare or behind an
ID3v2 tag, with its segment on a local marker server, reaches no decoder and makes no service fetch anything.

End to end through the running stack (gateway + services) with files under its MEDIA_ROOT; plus what the
stack cannot show on its own: the sniffer's verdict on tagged files, and what ffmpeg reads when yt-dlp
post-processes a download (an ffconcat list named ``media.mp4``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from downloader.failures import NotMediaError
from downloader.ffmpeg_fences import external_downloader_args, fence_probes, postprocessor_args
from jobcommon.ffmpeg_inputs import LOCAL_PROTOCOLS, NETWORK_PROTOCOLS
from jobcommon.sniff import sniff
from tests.support.marker import MarkerServer
from tests.support.media import make_av_pair
from tests.support.stack_jobs import failed_permanently, fresh_folder

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from tests.conftest import Stack


def id3_tag(body: bytes = b"\x00" * 32) -> bytes:
    """A valid ID3v2.4 tag around `body` (its size in sync-safe bytes)."""
    size = len(body)
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + syncsafe + body


def hls_playlist(segment_url: str) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:1.0,\n{segment_url}\n#EXT-X-ENDLIST\n"
    ).encode()


@pytest.fixture
def marker() -> Iterator[MarkerServer]:
    with MarkerServer() as server:
        yield server


@pytest.fixture
def folder(stack: Stack) -> str:
    return fresh_folder(stack.media_root, "hostile")


async def _items(api: httpx.AsyncClient, task_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/jobs/{task_id}/items", params={"limit": 100})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return sorted(items, key=lambda item: item["index"])


# -- the stack ------------------------------------------------------------------------------------------


async def test_disguised_playlists_fail_and_nothing_fetches_their_segments(
    stack: Stack, api: httpx.AsyncClient, marker: MarkerServer, folder: str
) -> None:
    """HLS playlists named .mp3/.mp4 (bare, or behind a valid ID3v2 tag, which FFmpeg skips before probing)
    whose segment is on a local marker server: metadata_enrich and thumbnail fail every one of them with a
    clear error, and the marker server never sees a connection from any service."""
    disguises = {
        "plain.mp3": hls_playlist(marker.url("plain-mp3.ts")),
        "tagged.mp3": id3_tag() + hls_playlist(marker.url("tagged-mp3.ts")),
        "plain.mp4": hls_playlist(marker.url("plain-mp4.ts")),
        "tagged.mp4": id3_tag() + hls_playlist(marker.url("tagged-mp4.ts")),
    }
    for name, content in disguises.items():
        (stack.media_root / folder / name).write_bytes(content)
    paths = [f"{folder}/{name}" for name in disguises]

    enrich, thumbs = await asyncio.gather(
        failed_permanently(api, {"job_type": "metadata_enrich", "items": paths}),
        failed_permanently(api, {"job_type": "thumbnail", "sources": paths}),
    )

    for item in await _items(api, enrich["task_id"]):
        assert item["status"] == "failed", item
        assert item["error"]["type"] == "UnsupportedMediaError", item
        assert "playlist (hls)" in item["error"]["message"], item
    for item in await _items(api, thumbs["task_id"]):
        assert item["status"] == "failed", item
        assert item["error"]["type"] == "UnsupportedMedia", item
        assert "playlist: hls" in item["error"]["message"], item
    assert (marker.connections, marker.paths) == (0, [])


def test_an_id3_tag_is_only_audio_when_audio_follows_it(tmp_path: Path) -> None:
    """The letters ID3 prove nothing: a tag counts as audio only when an MPEG audio frame (or other audio)
    follows it, also when the tag is longer than the sniffer's first read (cover art)."""
    frame = b"\xff\xfb\x90\x64" + b"\x00" * 413
    cases = {
        "song.mp3": (id3_tag() + frame * 3, ("audio", "mp3")),
        "cover.mp3": (id3_tag(b"\x00" * 300_000) + frame * 3, ("audio", "mp3")),
        "aac.mp3": (id3_tag() + b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 64, ("audio", "aac")),
        "flac.mp3": (id3_tag() + b"fLaC\x00\x00\x00\x22", ("audio", "flac")),
        "hls.mp3": (id3_tag() + hls_playlist("http://127.0.0.1:9/x.ts"), ("playlist", "hls")),
        "words.mp3": (id3_tag() + b"just some words\n", ("text", "text")),
        "video.mp3": (id3_tag() + b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", ("unknown", None)),
        "nothing.mp3": (id3_tag(), ("unknown", None)),
        "letters.mp3": (b"ID3 is a tag format\n", ("text", "text")),
        "badsize.mp3": (b"ID3\x04\x00\x00\x00\x00\x80\x00" + frame, ("unknown", None)),
    }
    for name, (content, expected) in cases.items():
        (tmp_path / name).write_bytes(content)
        found = sniff(tmp_path / name)
        assert (found.kind, found.container) == expected, name


# -- what ffmpeg reads for yt-dlp's post-processors -----------------------------------------------------


@pytest.fixture
def concat_in_disguise(tmp_path: Path) -> Path:
    """``media.mp4`` that is an ffconcat list naming ``audio_only.m4a`` next to it: an ffmpeg without a
    format whitelist follows the list and reads the other file."""
    make_av_pair(tmp_path, seconds=1.0)
    disguised = tmp_path / "media.mp4"
    disguised.write_text("ffconcat version 1.0\nfile audio_only.m4a\n")
    return disguised


def _ydl(params: dict[str, Any]) -> Any:
    import imageio_ffmpeg
    import yt_dlp

    return yt_dlp.YoutubeDL({"quiet": True, "ffmpeg_location": imageio_ffmpeg.get_ffmpeg_exe(), **params})


def _remux(path: Path, params: dict[str, Any]) -> Path:
    from yt_dlp.postprocessor import FFmpegVideoRemuxerPP

    info = {"filepath": str(path), "ext": path.suffix[1:], "__files_to_move": {}}
    with _ydl(params) as ydl:
        _, info = FFmpegVideoRemuxerPP(ydl, "mkv").run(info)
    return Path(info["filepath"])


def test_postprocessors_read_no_file_through_a_disguised_list(concat_in_disguise: Path) -> None:
    """Remuxing a downloaded file that is really an ffconcat list: without our post-processor arguments ffmpeg
    follows the list and copies another local file; with them the remux fails and writes nothing, while a
    real media file still remuxes."""
    from yt_dlp.utils import PostProcessingError

    fenced = {"postprocessor_args": postprocessor_args()}
    leaked = _remux(concat_in_disguise, {})  # the hazard, shown: ffmpeg read audio_only.m4a through the list
    assert leaked.stat().st_size > 0
    leaked.unlink()
    with pytest.raises(PostProcessingError):
        _remux(concat_in_disguise, fenced)
    assert not leaked.exists()
    assert _remux(concat_in_disguise.parent / "audio_only.m4a", fenced).stat().st_size > 0


def test_every_ffmpeg_postprocessor_gets_the_whitelists_and_fetches_never_read_files() -> None:
    """Each ffmpeg-based post-processor yt-dlp has gets local protocols and media demuxers before its inputs;
    ffmpeg as external downloader gets network protocols without `file`."""
    from yt_dlp.utils import _configuration_args

    args = postprocessor_args()
    for pp_key in ("Merger", "VideoRemuxer", "ExtractAudio", "FixupM3u8", "FixupM4a", "EmbedThumbnail"):
        used = _configuration_args(pp_key, args, "ffmpeg", ["_i1", "_i"])
        assert used[:2] == ["-protocol_whitelist", LOCAL_PROTOCOLS], pp_key
        assert used[2] == "-format_whitelist"
        assert {"concat", "hls", "dash", "image2"}.isdisjoint(used[3].split(",")), used[3]
    fetch = _configuration_args("ffmpeg", external_downloader_args(), "ffmpeg", ["_i1", "_i"])
    assert fetch == ["-protocol_whitelist", NETWORK_PROTOCOLS]
    assert "file" not in NETWORK_PROTOCOLS.split(",")


def test_ffmpeg_probes_never_see_what_is_no_media(
    concat_in_disguise: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yt-dlp's codec probe (``ffmpeg -i`` with no options of ours) follows a disguised list; fenced, it
    answers "unknown" for it without running ffmpeg, and still knows a real file's codec."""
    from yt_dlp.postprocessor import FFmpegExtractAudioPP
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    for name in ("get_audio_codec", "get_metadata_object"):  # restored after the test
        monkeypatch.setattr(FFmpegPostProcessor, name, getattr(FFmpegPostProcessor, name))
    monkeypatch.setattr(FFmpegPostProcessor, "_mediajobs_fenced", False, raising=False)
    with _ydl({}) as ydl:
        probe = FFmpegExtractAudioPP(ydl)
        assert probe.get_audio_codec(str(concat_in_disguise)) == "aac"  # read through the list
        fence_probes()
        fence_probes()  # idempotent
        assert probe.get_audio_codec(str(concat_in_disguise)) is None
        assert probe.get_audio_codec(str(concat_in_disguise.parent / "audio_only.m4a")) == "aac"
        with pytest.raises(NotMediaError):
            probe.get_metadata_object(str(concat_in_disguise))
