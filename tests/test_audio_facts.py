"""The metadata probe's sound facts and tags (mutagen), on real files ffmpeg makes: what a music library needs
to know of an mp3, an m4a, an opus file and a music video's sound track."""

from __future__ import annotations

import struct
import subprocess
from typing import TYPE_CHECKING, Any

import imageio_ffmpeg
import mutagen.id3
import mutagen.wave
import pytest

from metadata.audio_facts import ID3_FRAME_LIMIT, ID3_TAG_LIMIT, TAG_LIMIT
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


def _id3_tag(version: int, frames: int, frame_data: bytes = b"\x03a") -> bytes:
    """An ID3v2.`version` tag of `frames` title frames holding `frame_data` each."""

    def syncsafe(size: int) -> bytes:
        return bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))

    if version == 2:
        frame = b"TT2" + len(frame_data).to_bytes(3, "big") + frame_data
    else:
        size = syncsafe(len(frame_data)) if version == 4 else len(frame_data).to_bytes(4, "big")
        frame = b"TIT2" + size + b"\x00\x00" + frame_data
    body = frame * frames
    return b"ID3" + bytes((version, 0, 0)) + syncsafe(len(body)) + body


@pytest.fixture
def bare_mp3(tmp_path: Path) -> bytes:
    song = tmp_path / "bare.mp3"
    _ffmpeg(*SINE, "-c:a", "libmp3lame", "-id3v2_version", "0", str(song))
    return song.read_bytes()


@pytest.mark.parametrize("version", [2, 3, 4])
def test_an_id3_tag_of_too_many_frames_is_refused_before_mutagen_parses_it(
    tmp_path: Path, bare_mp3: bytes, version: int
) -> None:
    """mutagen's ID3 parser slows down worse than linearly with the frame count (a 12 MB mp3 of 1,000,000
    tiny frames took it 10 minutes and 600 MB): a tag of more frames than any real one is refused."""
    song = tmp_path / "many.mp3"
    song.write_bytes(_id3_tag(version, ID3_FRAME_LIMIT + 1) + bare_mp3)
    with pytest.raises(MediaUnreadableError, match=f"its ID3 tag holds more than {ID3_FRAME_LIMIT} frames"):
        probe_file(song, tmp_path)
    song.write_bytes(_id3_tag(version, ID3_FRAME_LIMIT) + bare_mp3)  # many, but allowed
    info = probe_file(song, tmp_path)
    assert info.audio_codec == "mp3"
    assert info.tags is not None
    assert info.tags.title == "a"  # mutagen keeps one frame of an id


def test_an_id3_tag_too_big_is_refused_one_whose_frames_do_not_fit_keeps_the_good_ones(
    tmp_path: Path, bare_mp3: bytes
) -> None:
    song = tmp_path / "big.mp3"
    song.write_bytes(_id3_tag(4, 1, b"\x03" + b"a" * ID3_TAG_LIMIT) + bare_mp3)
    with pytest.raises(MediaUnreadableError, match=r"its ID3 tag is 16\.0 MB, more than 16 MB"):
        probe_file(song, tmp_path)
    tag = bytearray(_id3_tag(3, 3))
    tag[10 + 12 + 7] = 0x7F  # the second frame's size: past the tag's end
    song.write_bytes(bytes(tag) + bare_mp3)
    info = probe_file(song, tmp_path)  # the bad frame is dropped (metadata.id3_repair), the others kept
    assert info.tags is not None
    assert info.tags.title == "a"
    assert info.tag_frames_dropped == 1


def test_deeply_nested_mp4_atoms_are_unreadable_not_a_recursion_error(tmp_path: Path) -> None:
    atoms = b""
    for _ in range(3000):
        atoms = (8 + len(atoms)).to_bytes(4, "big") + b"moov" + atoms
    song = tmp_path / "nested.m4a"
    song.write_bytes(b"\x00\x00\x00\x14ftypM4A \x00\x00\x00\x00M4A " + atoms)
    with pytest.raises(MediaUnreadableError, match="RecursionError"):
        probe_file(song, tmp_path)


def test_a_wav_says_its_codec_and_id3_tags(tmp_path: Path) -> None:
    song = tmp_path / "song.wav"
    _ffmpeg(*SINE, "-c:a", "pcm_s16le", str(song))
    open_wave: Any = mutagen.wave.WAVE  # mutagen is untyped
    wave = open_wave(song)
    wave.add_tags()
    assert wave.tags is not None
    frames: list[tuple[Any, str]] = [
        (mutagen.id3.TIT2, "title"), (mutagen.id3.TPE1, "artist"), (mutagen.id3.TALB, "album"),
        (mutagen.id3.TPE2, "album_artist"), (mutagen.id3.TRCK, "track"), (mutagen.id3.TDRC, "date"),
        (mutagen.id3.TCON, "genre"),
    ]  # fmt: skip
    for frame, name in frames:
        wave.tags.add(frame(encoding=3, text=[TAGS[name]]))
    wave.save()
    info = probe_file(song, tmp_path)
    assert info.kind == "audio"
    assert (info.audio_codec, info.sample_rate, info.channels) == ("pcm", 44100, 1)
    assert info.duration is not None
    assert 2.9 < info.duration < 3.1
    assert info.tags is not None
    assert info.tags.model_dump(exclude_none=True) == TAGS


def test_a_duration_impossible_for_the_files_size_is_unknown(tmp_path: Path) -> None:
    """A 200-byte WAV whose data chunk claims 4 GB of one byte a second: not 136 years of sound."""
    fmt = struct.pack("<HHLLHH", 1, 1, 1, 1, 1, 8)
    chunks = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" + b"\xff\xff\xff\xff"
    wav = b"RIFF" + (len(chunks) + 200).to_bytes(4, "little") + chunks
    song = tmp_path / "liar.wav"
    song.write_bytes(wav.ljust(200, b"\x00"))
    info = probe_file(song, tmp_path)
    assert info.kind == "audio"
    assert info.duration is None
