"""MP3 and AAC (ADTS) files have no magic number: their first bytes are an ID3v2 tag or a frame header.

Both are checked field by field here, for `jobcommon.sniff`: the three letters ``ID3`` followed by anything
are not audio (FFmpeg skips an ID3v2 tag before it probes what follows, so a tag in front of a playlist
would smuggle the playlist past a prefix check), and two ``0xFF`` bytes are not a frame header.
"""

from __future__ import annotations

from typing import Literal

ID3_HEADER = 10
"""Bytes of an ID3v2 header (and of its optional footer)."""
ID3_VERSIONS = frozenset({2, 3, 4})
_ID3_FOOTER_FLAG = 0x10
_ID3_UNDEFINED_FLAGS = 0x0F
_MPEG_RESERVED_VERSION = 0b01
_ADTS_SAMPLE_RATES = 13
"""ADTS sampling-frequency indices 0–12 are defined, 13–15 are not."""


def id3v2_length(head: bytes) -> int | None:
    """Bytes taken by the ID3v2 tag `head` starts with (header, body, footer); None unless `head` starts
    with a valid ID3v2 header (``ID3``, version 2.2–2.4, no undefined flag, four sync-safe size bytes)."""
    if len(head) < ID3_HEADER or not head.startswith(b"ID3"):
        return None
    major, revision, flags, size = head[3], head[4], head[5], head[6:10]
    if major not in ID3_VERSIONS or revision == 0xFF or flags & _ID3_UNDEFINED_FLAGS:
        return None
    if any(byte & 0x80 for byte in size):
        return None
    body = (size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3]
    footer = ID3_HEADER if major == 4 and flags & _ID3_FOOTER_FLAG else 0
    return ID3_HEADER + body + footer


def _is_adts(b1: int, b2: int) -> bool:
    """12-bit sync, layer 00, a defined sampling-frequency index."""
    return b1 & 0xF6 == 0xF0 and (b2 >> 2) & 0x0F < _ADTS_SAMPLE_RATES


def _is_mpeg_audio(b1: int, b2: int, b3: int) -> bool:
    """11-bit sync; version, layer, bitrate, sample rate and emphasis none of the reserved values."""
    return (
        b1 & 0xE0 == 0xE0
        and (b1 >> 3) & 0b11 != _MPEG_RESERVED_VERSION
        and (b1 >> 1) & 0b11 != 0  # layer 00 is reserved (ADTS uses it)
        and b2 >> 4 != 0b1111  # bad bitrate index
        and (b2 >> 2) & 0b11 != 0b11  # reserved sample rate
        and b3 & 0b11 != 0b10  # reserved emphasis
    )


def frame_container(head: bytes) -> Literal["mp3", "aac"] | None:
    """``mp3`` when `head` starts with a valid MPEG audio frame header (layer I–III), ``aac`` for an ADTS
    header, None otherwise."""
    if len(head) < 4 or head[0] != 0xFF:
        return None
    b1, b2, b3 = head[1], head[2], head[3]
    if _is_adts(b1, b2):
        return "aac"
    if _is_mpeg_audio(b1, b2, b3):
        return "mp3"
    return None
