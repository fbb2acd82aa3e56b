"""Sane bounds on what a WAV's or an AIFF's header declares, before its figures are reported.

mutagen reports what the header says: a 144-byte WAV declaring 65,535 channels at 4,294,967,295 Hz and a
4 GB data chunk "is" such a file, with a bitrate of 10^19 bit/s. Here the header is refused (`check`
says why) when it declares:

- channels outside 1..`MAX_CHANNELS`, a sample rate outside 1..`MAX_SAMPLE_RATE` Hz, or bits per sample
  beyond `MAX_BITS` (and none for PCM: WAV formats 1, 3 and 0xFFFE, plain AIFF);
- more sound than the file holds: a WAV's ``data`` chunk or an AIFF's ``SSND`` chunk larger than the bytes
  after its header (but for a WAV's ``data`` size 0xFFFFFFFF, which writers to a pipe leave for "up to the
  end of the file"), or a plain AIFF whose sample frames do not fit in its ``SSND`` chunk.

The same bounds on channels and sample rate hold for every format (`bounded`, which `metadata.audio_facts`
applies to what mutagen reports).
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING, BinaryIO, Literal

if TYPE_CHECKING:
    from pathlib import Path

MAX_CHANNELS = 1024
"""Most channels taken (multitrack recorders write 128, 7th-order ambisonics 64; WAV's field holds 65535)."""
MAX_SAMPLE_RATE = 100_000_000
"""Most samples per second taken: past studio audio (768 kHz), bat detectors (1 MHz) and software-defined
radio captures stored as WAV (tens of MHz); WAV's field holds 4,294,967,295."""
MAX_BITS = 64
"""Most bits per sample (64-bit float)."""
STREAMED_SIZE = 0xFFFF_FFFF
"""A WAV ``data`` size writers to a pipe leave (they cannot seek back to write the real one)."""
_CHUNK_WALK_LIMIT = 1_000
"""Top-level chunks looked at (`metadata.audio_prescan.CHUNK_LIMIT` refused more already)."""
_PCM_WAVE_FORMATS = (1, 3, 0xFFFE)


def check(path: Path) -> str | None:
    """Why the header of the WAV or AIFF file `path` is not believable; None when it is (or `path` is neither:
    its format's figures are bounded elsewhere). Reads chunk headers only."""
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return _check_wave(file, size)
        if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            return _check_aiff(file, size, compressed=head[8:12] == b"AIFC")
    return None


def bounded(channels: int | None, sample_rate: int | None) -> str | None:
    """Why these channels and sample rate cannot be a sound's; None when they can (or are unknown)."""
    if channels is not None and not 1 <= channels <= MAX_CHANNELS:
        return f"its header declares {channels} channels (at most {MAX_CHANNELS} are believable)"
    if sample_rate is not None and not 1 <= sample_rate <= MAX_SAMPLE_RATE:
        return (
            f"its header declares a sample rate of {sample_rate} Hz (at most {MAX_SAMPLE_RATE} is believable)"
        )
    return None


def _bits(bits: int, *, pcm: bool) -> str | None:
    if not 0 <= bits <= MAX_BITS or (pcm and bits < 1):
        return f"its header declares {bits} bits per sample (PCM has 1 to {MAX_BITS})"
    return None


def _chunks(file: BinaryIO, order: Literal["little", "big"], size: int) -> dict[bytes, tuple[int, int]]:
    """The first chunk of each id at the top level: its data offset and declared size."""
    found: dict[bytes, tuple[int, int]] = {}
    pos = 12
    for _ in range(_CHUNK_WALK_LIMIT):
        if pos + 8 > size:
            break
        file.seek(pos)
        header = file.read(8)
        if len(header) < 8:
            break
        declared = int.from_bytes(header[4:8], order)
        found.setdefault(header[:4], (pos + 8, declared))
        pos += 8 + declared + declared % 2
    return found


def _check_wave(file: BinaryIO, size: int) -> str | None:
    chunks = _chunks(file, "little", size)
    if b"fmt " in chunks:
        offset, declared = chunks[b"fmt "]
        file.seek(offset)
        fmt = file.read(min(declared, 16))
        if len(fmt) == 16:
            audio_format, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", fmt)
            why = bounded(channels, rate) or _bits(bits, pcm=audio_format in _PCM_WAVE_FORMATS)
            if why is not None:
                return why
    if b"data" in chunks:
        offset, declared = chunks[b"data"]
        held = size - offset
        if declared != STREAMED_SIZE and declared > held:
            return f"its data chunk declares {declared} bytes, but the file holds {held} after its header"
    return None


def _check_aiff(file: BinaryIO, size: int, *, compressed: bool) -> str | None:
    chunks = _chunks(file, "big", size)
    frames_bytes: int | None = None
    if b"COMM" in chunks:
        offset, declared = chunks[b"COMM"]
        file.seek(offset)
        common = file.read(min(declared, 18))
        if len(common) == 18:
            channels, frames, bits = struct.unpack(">hIh", common[:8])
            rate = _extended(common[8:18])
            why = bounded(channels, rate) or _bits(bits, pcm=not compressed)
            if why is not None:
                return why
            if not compressed:
                frames_bytes = frames * channels * math.ceil(bits / 8)
    if b"SSND" in chunks:
        offset, declared = chunks[b"SSND"]
        held = size - offset
        if declared > held:
            return f"its SSND chunk declares {declared} bytes, but the file holds {held} after its header"
        if frames_bytes is not None and frames_bytes > declared - 8:  # 8: the chunk's offset and block size
            return (
                f"its header declares {frames_bytes} bytes of sample frames; its SSND chunk holds {declared}"
            )
    return None


def _extended(raw: bytes) -> int:
    """An AIFF sample rate (an 80-bit IEEE 754 extended float), rounded; 0 for what is no positive number."""
    exponent = int.from_bytes(raw[:2], "big")
    mantissa = int.from_bytes(raw[2:10], "big")
    if exponent & 0x8000 or exponent == 0x7FFF or mantissa == 0:
        return 0
    shift = (exponent & 0x7FFF) - 16383 - 63
    if shift > 64:  # far past any bound: no need to build the number
        return MAX_SAMPLE_RATE + 1
    return round(mantissa * 2.0**shift)
