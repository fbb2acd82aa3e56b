"""Hostile inputs, more: control characters in music_lookup's names, WAV/AIFF headers declaring the
impossible, a thumbnail's `at_s` past the end, dead-letter task ids that cannot be ids, and sources named
through `..` or naming a FIFO."""

from __future__ import annotations

import math
import os
import struct
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from gateway.dead_routes import DeadAction
from imaging.thumbnail import render
from imaging.work import Work
from jobcommon import JOB_TYPES, ThumbnailRequest
from jobcommon.sources import SourceError, resolve_source
from metadata.probe import MediaUnreadableError, probe_file
from tests.support.images import write_video

HOSTILE = ("ANSI\x1b[2J\u202eX\x00", "a\r\nb", "pay\u200cpal", "\u200b")


# -- 1. names with control, invisible or bidi characters ------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["artist", "title"])
def test_music_lookup_names_refuse_control_and_invisible_characters(field: str, value: str) -> None:
    request = {"job_type": "music_lookup", "artist": "Artist", "title": "Song", field: value}
    with pytest.raises(ValidationError, match="control, invisible and bidirectional") as refused:
        JOB_TYPES.parse(request)
    assert [error["loc"][-1] for error in refused.value.errors()] == [field]


def test_music_lookup_names_keep_what_real_names_hold() -> None:
    for artist in ("Sigur Rós", "ميدو", "मैं", "👨\u200d👩\u200d👧 Band", "坂本龍一"):
        assert JOB_TYPES.parse({"job_type": "music_lookup", "artist": artist, "title": "x"}).compact()


def test_a_download_format_refuses_control_characters() -> None:
    with pytest.raises(ValidationError, match="control, invisible"):
        JOB_TYPES.parse(
            {"job_type": "video_download", "url": "https://example.org/v", "options": {"format": "b\x1b[2J"}}
        )
    ok = {
        "job_type": "video_download",
        "url": "https://example.org/v",
        "options": {"format": "best[height<=?720]"},
    }
    assert JOB_TYPES.parse(ok).compact()["options"] == {"format": "best[height<=?720]"}


# -- 2. WAV/AIFF headers declaring the impossible -------------------------------------------------------


def _wav(path: Path, *, channels: int, rate: int, bits: int, data_size: int, fmt: int = 1) -> Path:
    """A 144-byte WAV whose header declares these figures (its data: 88 zero bytes)."""
    align = max(1, channels * math.ceil(bits / 8)) & 0xFFFF
    header = struct.pack("<HHIIHH", fmt, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + header + b"data" + struct.pack("<I", data_size)
    body += bytes(144 - 8 - len(body))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _extended(value: float) -> bytes:
    """An 80-bit IEEE 754 extended float (AIFF's sample rate) for a positive whole number."""
    exponent = int(value).bit_length() - 1
    mantissa = int(value) << (63 - exponent)
    return struct.pack(">HQ", exponent + 16383, mantissa)


def _aiff(path: Path, *, channels: int, frames: int, bits: int, rate: float, ssnd: int | None = None) -> Path:
    sound = bytes(64)
    comm = struct.pack(">hIh", channels, frames, bits) + _extended(rate)
    ssnd_size = len(sound) + 8 if ssnd is None else ssnd
    body = b"AIFF" + b"COMM" + struct.pack(">I", 18) + comm
    body += b"SSND" + struct.pack(">I", ssnd_size) + bytes(8) + sound
    path.write_bytes(b"FORM" + struct.pack(">I", len(body)) + body)
    return path


def _refused(path: Path, reason: str) -> None:
    with pytest.raises(MediaUnreadableError, match=reason):
        probe_file(path, path.parent)


def test_a_wav_declaring_the_impossible_is_unreadable(tmp_path: Path) -> None:
    """The review's file: 144 bytes, 65535 channels at 4294967295 Hz, a 4 GB data chunk."""
    bogus = _wav(tmp_path / "bogus.wav", channels=65535, rate=4294967295, bits=16, data_size=0xFFFFFFF0)
    assert bogus.stat().st_size == 144
    _refused(bogus, "65535 channels")
    _refused(_wav(tmp_path / "rate.wav", channels=2, rate=4294967295, bits=16, data_size=88), "4294967295 Hz")
    _refused(_wav(tmp_path / "bits.wav", channels=2, rate=44100, bits=65535, data_size=88), "65535 bits")
    _refused(_wav(tmp_path / "nobits.wav", channels=2, rate=44100, bits=0, data_size=88), "0 bits")
    _refused(_wav(tmp_path / "big.wav", channels=2, rate=44100, bits=16, data_size=0xF0000000), "data chunk")


def test_wavs_with_believable_headers_are_read(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    with wave.open(str(good), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(bytes(4 * 48_000))  # 1 s
    found = probe_file(good, tmp_path)
    assert (found.channels, found.sample_rate, found.duration, found.bitrate) == (2, 48_000, 1.0, 1_536_000)
    # a pipe's WAV: the data size left at 0xFFFFFFFF ("to the end of the file") is no lie
    streamed = _wav(tmp_path / "streamed.wav", channels=2, rate=44100, bits=16, data_size=0xFFFFFFFF)
    assert probe_file(streamed, tmp_path).channels == 2
    # MP3 in a WAV (format 0x55) says 0 bits per sample: only PCM must say some
    assert probe_file(
        _wav(tmp_path / "mp3.wav", channels=2, rate=44100, bits=0, data_size=88, fmt=0x55), tmp_path
    )


def test_an_aiff_declaring_the_impossible_is_unreadable(tmp_path: Path) -> None:
    good = _aiff(tmp_path / "good.aiff", channels=2, frames=16, bits=16, rate=44100)
    assert (probe_file(good, tmp_path).channels, probe_file(good, tmp_path).sample_rate) == (2, 44100)
    _refused(_aiff(tmp_path / "ch.aiff", channels=-1, frames=16, bits=16, rate=44100), "-1 channels")
    _refused(_aiff(tmp_path / "rate.aiff", channels=2, frames=16, bits=16, rate=2.0**40), "Hz")
    _refused(_aiff(tmp_path / "bits.aiff", channels=2, frames=16, bits=300, rate=44100), "300 bits")
    _refused(_aiff(tmp_path / "frames.aiff", channels=2, frames=2**31, bits=16, rate=44100), "sample frames")
    _refused(_aiff(tmp_path / "ssnd.aiff", channels=2, frames=16, bits=16, rate=44100, ssnd=2**31), "SSND")


def test_an_ogg_vorbis_declaring_a_32_bit_sample_rate_is_unreadable(tmp_path: Path) -> None:
    """Other formats' figures are bounded alike: Vorbis's identification header holds a 32-bit rate."""
    ident = b"\x01vorbis" + struct.pack("<IBIiiiBB", 0, 2, 4294967295, 0, 128_000, 0, 0xB8, 1)
    page = _ogg_page(ident, flags=0x02, sequence=0)
    comment = b"\x03vorbis" + struct.pack("<I", 0) + struct.pack("<I", 0) + b"\x01"
    path = tmp_path / "rate.ogg"
    path.write_bytes(page + _ogg_page(comment, flags=0x04, sequence=1))
    _refused(path, "4294967295 Hz")


def _ogg_page(packet: bytes, *, flags: int, sequence: int) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = struct.pack("<4sBBqIIiB", b"OggS", 0, flags, 0, 1, sequence, 0, len(lacing)) + bytes(lacing)
    return header + packet  # mutagen does not check the CRC


# -- 3. a thumbnail's at_s past the end says it was moved -------------------------------------------------


def _thumbnail(tmp_path: Path, at_s: float) -> dict[str, Any]:
    clip = write_video(tmp_path / "clip.mp4", 50, 25, (64, 48), lambda i: np.full((48, 64, 3), i, np.uint8))
    scratch = tmp_path / f"out_{at_s}"
    scratch.mkdir()
    work = Work(source="clip.mp4", path=str(clip), scratch=str(scratch), rel_dir="job")
    request = ThumbnailRequest(sources=["clip.mp4"], at_s=at_s, sizes=[32])
    return render(work, request).model_dump()


def test_a_thumbnail_past_the_end_says_at_s_was_clamped(tmp_path: Path) -> None:
    late = _thumbnail(tmp_path, 100_000)  # a 2 s clip
    assert (late["picked"], late["time_s"], late["frame"]) == ("at_s", 1.96, 49)
    assert late["clamped_from"] == 100_000
    inside = _thumbnail(tmp_path, 1.0)
    assert (inside["time_s"], inside["clamped_from"]) == (1.0, None)
    last = _thumbnail(tmp_path, 1.97)  # within the last frame: no clamping
    assert (last["frame"], last["clamped_from"]) == (49, None)


# -- 4. dead-letter task ids that cannot be ids ----------------------------------------------------------


def test_dead_letter_actions_refuse_task_ids_that_cannot_be_ids() -> None:
    with pytest.raises(ValidationError) as refused:
        DeadAction.model_validate({"task_ids": ["\x00", "../x", "7ffd509e" * 4, ".."]})
    errors = {error["loc"]: error["msg"] for error in refused.value.errors()}
    assert set(errors) == {("task_ids", 0), ("task_ids", 1), ("task_ids", 3)}
    assert "'\\x00' cannot be a task id" in errors[("task_ids", 0)]
    assert "'../x' cannot be a task id" in errors[("task_ids", 1)]
    with pytest.raises(ValidationError, match=r"'\\u202e' cannot be a task id"):
        DeadAction.model_validate({"task_ids": ["\u202e"]})
    assert DeadAction.model_validate({"task_ids": ["7ffd509e" * 4, "not-a-job"]}).task_ids == [
        "7ffd509e" * 4,
        "not-a-job",
    ]


# -- 5. sources through `..`, and FIFOs ----------------------------------------------------------------


def test_a_source_through_dotdot_is_refused_for_what_it_is() -> None:
    for source in ("hostile/../x", "../outside.jpg"):
        with pytest.raises(ValidationError) as refused:
            JOB_TYPES.parse({"job_type": "thumbnail", "sources": [source]})
        message = str(refused.value)
        assert "may not hold `..`" in message, message
        assert "leave" not in message


async def test_a_fifo_source_is_said_to_be_no_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.mp4")
    (tmp_path / "dir").mkdir()
    store: Any = None  # path sources of a trusted caller (owner None) never look a job up
    with pytest.raises(
        SourceError, match=r"'pipe.mp4' is not a regular file \(it is a named pipe \(FIFO\)\)"
    ):
        await resolve_source(store, tmp_path, "pipe.mp4", None)
    with pytest.raises(SourceError, match=r"'missing\.mp4' does not exist"):
        await resolve_source(store, tmp_path, "missing.mp4", None)
    with pytest.raises(SourceError, match="'dir' is a directory"):
        await resolve_source(store, tmp_path, "dir", None)
    (tmp_path / "real.mp4").write_bytes(b"x")
    assert await resolve_source(store, tmp_path, "real.mp4", None) == (tmp_path / "real.mp4").resolve()
