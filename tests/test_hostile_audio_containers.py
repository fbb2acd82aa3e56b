"""Hostile audio containers are refused before mutagen parses them, in well under a second and with little
memory, while ordinary files of the same formats still give their tags.

mutagen builds an object for every ID3 frame, RIFF/AIFF chunk, FLAC block, MP4 atom and Ogg page it reads
(measured before the pre-scan: a 2 MB WAV whose ID3 chunk held 200,000 frames took 135 s; 12 MB files of
1.5 million WAV chunks 88 s and 494 MB, of 3 million FLAC padding blocks 79 s and 313 MB, of 1.5 million
MP4 atoms 20 s and 371 MB; a 100 MB Ogg comment 397 MB). Each limit is tested one past it (refused) and,
where that is cheap, at it (read); every file is made here, byte by byte.
"""

from __future__ import annotations

import struct
import subprocess
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

import imageio_ffmpeg
import mutagen.aiff
import mutagen.id3
import pytest
from mutagen.ogg import OggPage

from metadata.audio_facts import AudioUnreadableError, audio_facts
from metadata.audio_prescan import (
    ATOM_LIMIT,
    BLOCK_LIMIT,
    CHUNK_LIMIT,
    COMMENT_LIMIT,
    ID3_FRAME_LIMIT,
    ID3_TAG_LIMIT,
    ITEM_LIMIT,
    PAGE_LIMIT,
    SEEKPOINT_LIMIT,
    TAG_BYTES_LIMIT,
)
from metadata.probe import MediaUnreadableError, probe_file

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SINE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=1"]
SECONDS = 10.0
"""Most a refusal of a 12 MB hostile file may take on a busy 2-core machine (it takes some 0.1 s)."""
TRACED_MB = 40
"""Most memory Python may allocate while refusing one (the biggest read: a 12 MB ID3 tag)."""


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
        check=True,
        timeout=60,
    )


def _syncsafe(size: int) -> bytes:
    return bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _id3_tag(frames: int, frame_data: bytes = b"\x03a") -> bytes:
    """An ID3v2.3 tag of `frames` title frames holding `frame_data` each."""
    frame = b"TIT2" + len(frame_data).to_bytes(4, "big") + b"\x00\x00" + frame_data
    body = frame * frames
    return b"ID3\x03\x00\x00" + _syncsafe(len(body)) + body


def _chunk(chunk_id: bytes, data: bytes, order: str) -> bytes:
    size = struct.pack("<I" if order == "little" else ">I", len(data))
    return chunk_id + size + data + b"\x00" * (len(data) % 2)


def _wav(extra: bytes = b"") -> bytes:
    fmt = struct.pack("<HHLLHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + _chunk(b"fmt ", fmt, "little") + _chunk(b"data", b"\x00\x00" * 8000, "little") + extra
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _aiff(extra: bytes = b"") -> bytes:
    rate = struct.pack(">HQ", 16383 + 12, 8000 << (63 - 12))  # 8000 as an 80-bit float
    comm = struct.pack(">hLh", 1, 8000, 16) + rate
    ssnd = struct.pack(">II", 0, 0) + b"\x00\x00" * 8000
    body = b"AIFF" + _chunk(b"COMM", comm, "big") + _chunk(b"SSND", ssnd, "big") + extra
    return b"FORM" + struct.pack(">I", len(body)) + body


def _with_id3_chunk(container: str, chunk_id: bytes, tag: bytes) -> bytes:
    if container == "wav":
        return _wav(_chunk(chunk_id, tag, "little"))
    return _aiff(_chunk(chunk_id, tag, "big"))


def _facts_of(tmp_path: Path, name: str, data: bytes) -> Any:
    """The facts of a file holding `data`: through the probe for what the sniff calls audio, mutagen's reader
    directly for AIFF (the sniff does not know it)."""
    path = tmp_path / name
    path.write_bytes(data)
    if name.endswith(".aiff"):
        try:
            return audio_facts(path)
        except AudioUnreadableError as exc:
            raise MediaUnreadableError(f"the audio cannot be read: {exc}") from None
    return probe_file(path, tmp_path)


# WAV and AIFF


@pytest.mark.parametrize(
    ("name", "chunk_id"), [("song.wav", b"id3 "), ("song.wav", b"ID3 "), ("song.aiff", b"ID3 ")]
)
def test_an_id3_chunk_of_too_many_frames_is_refused_like_an_mp3s_tag(
    tmp_path: Path, name: str, chunk_id: bytes
) -> None:
    container = name.rsplit(".", 1)[1]
    many = _with_id3_chunk(container, chunk_id, _id3_tag(ID3_FRAME_LIMIT + 1))
    with pytest.raises(MediaUnreadableError, match=f"its ID3 tag holds more than {ID3_FRAME_LIMIT} frames"):
        _facts_of(tmp_path, name, many)
    allowed = _facts_of(tmp_path, name, _with_id3_chunk(container, chunk_id, _id3_tag(ID3_FRAME_LIMIT)))
    assert allowed.tags is not None
    assert allowed.tags.title == "a"
    assert allowed.sample_rate == 8000


@pytest.mark.parametrize("name", ["song.wav", "song.aiff"])
def test_an_id3_chunk_too_big_is_refused_one_whose_frames_do_not_fit_keeps_the_good_ones(
    tmp_path: Path, name: str
) -> None:
    container = name.rsplit(".", 1)[1]
    big = _with_id3_chunk(container, b"ID3 ", _id3_tag(1, b"\x03" + b"a" * ID3_TAG_LIMIT))
    with pytest.raises(MediaUnreadableError, match=r"its ID3 tag is 16\.0 MB, more than 16 MB"):
        _facts_of(tmp_path, name, big)
    tag = bytearray(_id3_tag(3))
    tag[10 + 12 + 7] = 0x7F  # the second frame's size: past the tag's end
    repaired = _facts_of(tmp_path, name, _with_id3_chunk(container, b"ID3 ", bytes(tag)))
    assert repaired.tags is not None  # the bad frame is dropped (metadata.id3_repair), the others kept
    assert repaired.tags.title == "a"
    assert repaired.tag_frames_dropped == 1


@pytest.mark.parametrize("name", ["song.wav", "song.aiff"])
def test_a_file_of_too_many_chunks_is_refused(tmp_path: Path, name: str) -> None:
    make = _wav if name.endswith(".wav") else _aiff
    order = "little" if name.endswith(".wav") else "big"
    with pytest.raises(MediaUnreadableError, match=f"it holds more than {CHUNK_LIMIT} chunks"):
        _facts_of(tmp_path, name, make(_chunk(b"junk", b"", order) * (CHUNK_LIMIT - 1)))
    allowed = _facts_of(tmp_path, name, make(_chunk(b"junk", b"", order) * (CHUNK_LIMIT - 2)))
    assert (allowed.sample_rate, allowed.channels) == (8000, 1)


def test_an_ordinary_aiff_gives_its_tags(tmp_path: Path) -> None:
    song = tmp_path / "song.aiff"
    _ffmpeg(*SINE, "-c:a", "pcm_s16be", str(song))
    open_aiff: Any = mutagen.aiff.AIFF  # mutagen is untyped
    aiff = open_aiff(song)
    aiff.add_tags()
    id3: Any = mutagen.id3
    aiff.tags.add(id3.TIT2(encoding=3, text=["Jóga"]))
    aiff.tags.add(id3.TPE1(encoding=3, text=["Björk"]))
    aiff.tags.add(id3.APIC(encoding=3, mime="image/jpeg", type=3, data=b"\xff" * 3_000_000))  # cover art
    aiff.save()
    facts = audio_facts(song)
    assert facts is not None
    assert facts.audio_codec == "pcm"
    assert facts.tags is not None
    assert (facts.tags.title, facts.tags.artist) == ("Jóga", "Björk")


# FLAC


def _flac_blocks(blocks: list[tuple[int, bytes]]) -> bytes:
    """A FLAC file's metadata: STREAMINFO (8 kHz mono, 8000 samples) then `blocks` (code, data); no audio."""
    info = struct.pack(">HH", 4096, 4096) + b"\x00" * 6
    info += ((8000 << 44) | (0 << 41) | (15 << 36) | 8000).to_bytes(8, "big") + b"\x00" * 16
    out = bytearray(b"fLaC")
    every = [(0, info), *blocks]
    for index, (code, data) in enumerate(every):
        last = 0x80 if index == len(every) - 1 else 0
        out += bytes([code | last]) + min(len(data), 0xFFFFFF).to_bytes(3, "big") + data
    return bytes(out)


def _vorbis_comment(comments: list[bytes]) -> bytes:
    body = b"".join(struct.pack("<I", len(comment)) + comment for comment in comments)
    return struct.pack("<I", 1) + b"x" + struct.pack("<I", len(comments)) + body


def _picture(data: bytes) -> bytes:
    mime = b"image/jpeg"
    return struct.pack(">II", 3, len(mime)) + mime + struct.pack(">6I", 0, 1, 1, 24, 0, len(data)) + data


def test_a_flac_of_too_many_blocks_comments_or_seek_points_is_refused(tmp_path: Path) -> None:
    cases = [
        ([(1, b"")] * BLOCK_LIMIT, f"it holds more than {BLOCK_LIMIT} FLAC metadata blocks"),
        ([(6, _picture(b""))] * BLOCK_LIMIT, f"it holds more than {BLOCK_LIMIT} FLAC metadata blocks"),
        ([(4, _vorbis_comment([b"a=b"] * (COMMENT_LIMIT + 1)))], f"more than {COMMENT_LIMIT}"),
        ([(3, b"\x00" * 18 * (SEEKPOINT_LIMIT + 1))], f"more than {SEEKPOINT_LIMIT} points"),
    ]
    for blocks, reason in cases:
        with pytest.raises(MediaUnreadableError, match=reason):
            _facts_of(tmp_path, "song.flac", _flac_blocks(blocks))
    comments = [b"TITLE=J\xc3\xb3ga", b"ARTIST=Bj\xc3\xb6rk"] + [b"a=b"] * (COMMENT_LIMIT - 2)
    allowed = _facts_of(
        tmp_path, "song.flac", _flac_blocks([(1, b"")] * (BLOCK_LIMIT - 2) + [(4, _vorbis_comment(comments))])
    )
    assert allowed.tags is not None
    assert (allowed.tags.title, allowed.tags.artist) == ("Jóga", "Björk")


def test_a_flac_picture_is_measured_by_what_it_holds_not_by_its_header(tmp_path: Path) -> None:
    """mutagen reads a picture block (and a Vorbis comment) by its content, whatever the block header says:
    a 33 MB picture in a block whose header says 16 MB is more tags than mutagen is let hold."""
    picture = _picture(b"\x00" * TAG_BYTES_LIMIT)
    with pytest.raises(MediaUnreadableError, match="its FLAC metadata blocks are more than 32 MB"):
        _facts_of(tmp_path, "song.flac", _flac_blocks([(6, picture)]))
    allowed = _facts_of(tmp_path, "song.flac", _flac_blocks([(6, _picture(b"\x00" * 20_000_000))]))
    assert allowed.audio_codec == "flac"


# MP4


def _atom(name: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), name) + payload


@pytest.fixture(scope="module")
def m4a(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An m4a without tags (no udta) whose moov is its last atom."""
    song = tmp_path_factory.mktemp("m4a") / "song.m4a"
    _ffmpeg(*SINE, "-c:a", "aac", "-map_metadata", "-1", str(song))
    data = song.read_bytes()
    at = data.rindex(b"moov") - 4
    assert at + int.from_bytes(data[at : at + 4], "big") == len(data)
    kept, pos = b"", at + 8
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] != b"udta":  # ffmpeg's: an empty ilst, which mutagen would read
            kept += data[pos : pos + size]
        pos += size
    return data[:at] + _atom(b"moov", kept)


def _with_tags(m4a: bytes, items: bytes) -> bytes:
    """`m4a` with moov/udta/meta/ilst holding `items` appended to its moov."""
    hdlr = _atom(b"hdlr", b"\x00" * 8 + b"mdirappl" + b"\x00" * 9)
    udta = _atom(b"udta", _atom(b"meta", b"\x00" * 4 + hdlr + _atom(b"ilst", items)))
    at = m4a.rindex(b"moov") - 4
    moov = m4a[at:]
    return m4a[:at] + struct.pack(">I", len(moov) + len(udta)) + moov[4:] + udta


def _text(name: bytes, text: bytes) -> bytes:
    return _atom(name, _atom(b"data", struct.pack(">II", 1, 0) + text))


def test_an_mp4_of_too_many_atoms_or_tag_items_is_refused(tmp_path: Path, m4a: bytes) -> None:
    with pytest.raises(MediaUnreadableError, match=f"it holds more than {ATOM_LIMIT} MP4 atoms"):
        _facts_of(tmp_path, "song.m4a", m4a + _atom(b"free", b"") * ATOM_LIMIT)
    many_values = _atom(b"\xa9nam", _atom(b"data", struct.pack(">II", 1, 0) + b"a") * ITEM_LIMIT)
    with pytest.raises(MediaUnreadableError, match=f"it holds more than {ITEM_LIMIT} MP4 tag items"):
        _facts_of(tmp_path, "song.m4a", _with_tags(m4a, many_values))
    with pytest.raises(MediaUnreadableError, match=f"it holds more than {ITEM_LIMIT} MP4 tag items"):
        _facts_of(tmp_path, "song.m4a", _with_tags(m4a, _text(b"\xa9cmt", b"a") * (ITEM_LIMIT // 2 + 1)))
    tags = _text(b"\xa9nam", "Jóga".encode()) + _text(b"\xa9ART", "Björk".encode())
    allowed = _facts_of(tmp_path, "song.m4a", _with_tags(m4a, tags + _text(b"\xa9cmt", b"a") * 1000))
    assert allowed.tags is not None
    assert (allowed.tags.title, allowed.tags.artist) == ("Jóga", "Björk")


# Ogg


NEW_PAGE: Any = OggPage  # mutagen is untyped


def _ogg_pages(serial: int, packets: list[bytes], *, last: bool = False) -> bytes:
    """`packets` as pages of `serial` (each packet on pages of its own, 255 x 255 bytes a page)."""
    out = bytearray()
    sequence = 0
    for index, packet in enumerate(packets):
        step = 255 * 255
        pieces = [packet[at : at + step] for at in range(0, len(packet), step)] or [b""]
        for number, piece in enumerate(pieces):
            page = NEW_PAGE()
            page.version, page.serial, page.sequence = 0, serial, sequence
            final = number == len(pieces) - 1
            page.position = 8000 if final and index == len(packets) - 1 else (0 if final else -1)
            page.packets, page.complete, page.continued = [piece], final, number > 0
            page.first = sequence == 0
            page.last = last and final and index == len(packets) - 1
            out += page.write()
            sequence += 1
    return bytes(out)


OPUS_HEAD = b"OpusHead\x01\x01\x00\x00\x40\x1f\x00\x00\x00\x00\x00"


def _opus(comments: list[bytes], *, between: bytes = b"", tail: bytes = b"", last: bool = True) -> bytes:
    """An Ogg Opus stream's headers and one (empty) audio packet, with `between` after its first page."""
    pages = _ogg_pages(1, [OPUS_HEAD, b"OpusTags" + _vorbis_comment(comments), b"\xf8\xff\xfe"], last=last)
    first = 27 + 1 + len(OPUS_HEAD)
    return pages[:first] + between + pages[first:] + tail


def _tiny_pages(count: int) -> bytes:
    """`count` pages of one byte, of another stream (mutagen reads and skips them)."""
    page = NEW_PAGE()
    page.version, page.serial, page.sequence, page.position = 0, 2, 0, 0
    page.packets, page.complete = [b"x"], True
    data: bytes = page.write()
    return data * count


def test_an_ogg_comment_header_of_too_many_comments_or_bytes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MediaUnreadableError, match=f"more than {COMMENT_LIMIT}"):
        _facts_of(tmp_path, "song.opus", _opus([b"a=b"] * (COMMENT_LIMIT + 1)))
    with pytest.raises(MediaUnreadableError, match="its Ogg comment header is more than 32 MB"):
        _facts_of(tmp_path, "song.opus", _opus([b"a=" + b"x" * TAG_BYTES_LIMIT]))
    comments = [b"TITLE=J\xc3\xb3ga", b"ARTIST=Bj\xc3\xb6rk", b"COVER=" + b"x" * 10_000_000]
    allowed = _facts_of(tmp_path, "song.opus", _opus(comments + [b"a=b"] * (COMMENT_LIMIT - 3)))
    assert allowed.audio_codec == "opus"
    assert allowed.tags is not None
    assert (allowed.tags.title, allowed.tags.artist) == ("Jóga", "Björk")


def test_an_ogg_of_too_many_pages_to_read_is_refused(tmp_path: Path) -> None:
    """mutagen reads pages one by one up to the comment header, and to the end of the first stream when the
    file's last page does not end it."""
    tags = [b"TITLE=t"]
    with pytest.raises(MediaUnreadableError, match=f"its Ogg headers span more than {PAGE_LIMIT} pages"):
        _facts_of(tmp_path, "song.opus", _opus(tags, between=_tiny_pages(PAGE_LIMIT)))
    with pytest.raises(MediaUnreadableError, match=f"span more than {PAGE_LIMIT} pages before the end"):
        _facts_of(tmp_path, "song.opus", _opus(tags, tail=_tiny_pages(PAGE_LIMIT), last=False))
    allowed = _facts_of(tmp_path, "song.opus", _opus(tags, tail=_tiny_pages(PAGE_LIMIT // 2), last=False))
    assert allowed.tags is not None
    assert allowed.tags.title == "t"
    ended = _facts_of(tmp_path, "song.opus", _opus(tags, tail=_tiny_pages(PAGE_LIMIT)))  # its end comes first
    assert ended.tags is not None


# At scale: the files that took mutagen minutes or hundreds of megabytes


def _flac_padding() -> bytes:
    return _flac_blocks([(1, b"")] * 3_000_000)


HOSTILE: dict[str, Callable[[], bytes]] = {
    "frames.wav": lambda: _wav(_chunk(b"id3 ", _id3_tag(1_000_000), "little")),
    "frames.aiff": lambda: _aiff(_chunk(b"ID3 ", _id3_tag(1_000_000), "big")),
    "chunks.wav": lambda: _wav(_chunk(b"junk", b"", "little") * 1_500_000),
    "chunks.aiff": lambda: _aiff(_chunk(b"junk", b"", "big") * 1_500_000),
    "padding.flac": _flac_padding,
    "comments.flac": lambda: _flac_blocks([(4, _vorbis_comment([b"a=b"] * 1_500_000))]),
    "comments.opus": lambda: _opus([b"a=b"] * 1_500_000),
    "pages.opus": lambda: _opus([b"a=b"], between=_tiny_pages(400_000)),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_12_mb_hostile_file_is_refused_at_once_with_little_memory(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(HOSTILE[name]())
    started = time.monotonic()
    with pytest.raises(AudioUnreadableError):
        audio_facts(path)
    assert time.monotonic() - started < SECONDS
    tracemalloc.start()  # again, measuring memory (tracing slows it down)
    try:
        with pytest.raises(AudioUnreadableError):
            audio_facts(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < TRACED_MB * 2**20


def test_a_12_mb_mp4_of_atoms_is_refused_at_once(tmp_path: Path, m4a: bytes) -> None:
    path = tmp_path / "atoms.m4a"
    path.write_bytes(m4a + _atom(b"free", b"") * 1_500_000)
    started = time.monotonic()
    with pytest.raises(AudioUnreadableError, match="MP4 atoms"):
        audio_facts(path)
    assert time.monotonic() - started < SECONDS
