"""The metadata probe's sound facts and tags (mutagen), on real files ffmpeg makes: what a music library needs
to know of an mp3, an m4a, an opus file and a music video's sound track."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import imageio_ffmpeg
import pytest

from metadata.audio_facts import TAG_LIMIT
from metadata.probe import MediaUnreadableError, probe_file

if TYPE_CHECKING:
    from pathlib import Path

SINE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3"]
TAGS = {
    "title": "Jóga",
    "artist": "Björk",
    "album": "Homogenic",
    "album_artist": "Björk",
    "track": "3/10",
    "date": "1997",
    "genre": "Electronic",
}


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
        check=True,
        timeout=60,
    )


def _tagged(tags: dict[str, str]) -> list[str]:
    return [arg for name, value in tags.items() for arg in ("-metadata", f"{name}={value}")]


@pytest.mark.parametrize(
    ("name", "encode", "codec", "channels"),
    [
        ("song.mp3", ["-c:a", "libmp3lame", "-b:a", "128k"], "mp3", 1),
        ("song.m4a", ["-c:a", "aac", "-b:a", "96k"], "mp4a.40.2 (AAC LC)", 1),
        ("song.opus", ["-c:a", "libopus", "-b:a", "64k", "-ac", "2"], "opus", 2),
    ],
)
def test_an_audio_file_says_its_sound_and_tags(
    tmp_path: Path, name: str, encode: list[str], codec: str, channels: int
) -> None:
    song = tmp_path / name
    _ffmpeg(*SINE, *encode, *_tagged(TAGS), str(song))
    info = probe_file(song, tmp_path)
    assert info.kind == "audio"
    assert info.audio_codec == codec
    assert info.duration is not None
    assert 2.9 < info.duration < 3.2
    assert info.channels == channels
    assert info.sample_rate == (48000 if codec == "opus" else 44100)  # opus always decodes at 48 kHz
    assert info.bitrate is not None
    assert info.bitrate > 0
    assert info.tags is not None
    assert info.tags.model_dump(exclude_none=True) == TAGS


def test_a_music_videos_sound_track_and_tags_come_with_its_video_facts(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=3", *SINE,
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
        *_tagged({"title": "Jóga (Official Video)", "artist": "Björk"}), "-shortest", str(clip),
    )  # fmt: skip
    info = probe_file(clip, tmp_path)
    assert info.kind == "video"
    assert (info.width, info.height) == (320, 240)
    assert info.codec is not None  # the video's
    assert info.audio_codec == "mp4a.40.2 (AAC LC)"
    assert info.channels == 2
    assert info.tags is not None
    assert (info.tags.title, info.tags.artist) == ("Jóga (Official Video)", "Björk")


def test_a_video_without_sound_or_one_mutagen_cannot_read_has_no_sound_facts(tmp_path: Path) -> None:
    silent = tmp_path / "silent.webm"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1",
        "-c:v", "libvpx-vp9", "-deadline", "realtime", str(silent),
    )  # fmt: skip
    info = probe_file(silent, tmp_path)
    assert info.kind == "video"
    assert (info.audio_codec, info.sample_rate, info.channels, info.tags) == (None, None, None, None)


def test_hostile_tags_are_one_line_of_bounded_length(tmp_path: Path) -> None:
    """A tag is the file's word, shown by the dashboard and the CLI: no control characters (a terminal
    escape, a newline that fakes a second field), no unbounded length."""
    song = tmp_path / "hostile.mp3"
    title = "Title\x1b[31mred\x1b[0m\nartist=Fake\x07" + "x" * 5000
    _ffmpeg(*SINE, "-c:a", "libmp3lame", *_tagged({"title": title, "artist": "\u200bB\x01"}), str(song))
    info = probe_file(song, tmp_path)
    assert info.tags is not None
    assert info.tags.title is not None
    assert info.tags.title.startswith("Title[31mred[0m artist=Fake")
    assert len(info.tags.title) == TAG_LIMIT
    assert not any(ord(char) < 32 or ord(char) == 127 for char in info.tags.title)
    assert info.tags.artist == "B"


def test_a_truncated_m4a_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    song = tmp_path / "song.m4a"
    _ffmpeg(*SINE, "-c:a", "aac", *_tagged(TAGS), str(song))
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(song.read_bytes()[:2000])  # its index (moov) is at the end: gone
    with pytest.raises(MediaUnreadableError, match="the audio cannot be read"):
        probe_file(cut, tmp_path)
