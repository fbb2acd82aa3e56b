"""Audio facts of a local file: its sound (codec, length, bitrate, sample rate, channels) and its tags (title,
artist, album, ...), read by mutagen from the container's headers and tag blocks.

mutagen reads MP3 (ID3), MP4/M4A (also a video's first sound track), Ogg (Vorbis, Opus, FLAC), FLAC, WAV,
AIFF and more, in pure Python and without decoding any sound. It does not read Matroska/WebM: those say
nothing here. Tag values come from the file: each is cut to `TAG_LIMIT` characters, control characters
removed, and only the common fields are kept. Before mutagen parses a file, a cheap pre-scan of its structure
(`metadata.audio_prescan`) refuses those whose tags or chunks would take mutagen minutes or gigabytes. A frame
mutagen cannot decode (bad UTF-8, an unknown encoding) is skipped by mutagen itself; an ID3 tag whose frame
sizes do not add up is read from its frames that fit (`metadata.id3_repair`), the others counted in
`AudioFacts.tag_frames_dropped`.
"""

from __future__ import annotations

import io
import math
import struct
import unicodedata
from typing import TYPE_CHECKING, Any

import mutagen
from mutagen.easyid3 import EasyID3
from mutagen.id3 import ID3
from pydantic import BaseModel, ConfigDict, Field

from jobcommon.mpeg_audio import ID3_HEADER, id3v2_length
from metadata import pcm_header
from metadata.audio_prescan import ID3_FRAME_LIMIT, ID3_TAG_LIMIT, prescan
from metadata.id3_repair import rebuild_id3

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "ID3_FRAME_LIMIT",
    "ID3_TAG_LIMIT",
    "TAG_LIMIT",
    "AudioFacts",
    "AudioTags",
    "AudioUnreadableError",
    "audio_facts",
]

TAG_LIMIT = 500
"""Characters kept of one tag value."""

_TAGS = {
    "title": "title",
    "artist": "artist",
    "album": "album",
    "albumartist": "album_artist",
    "tracknumber": "track",
    "date": "date",
    "genre": "genre",
}
"""mutagen's "easy" tag names (the same for ID3, MP4 and Vorbis comments) -> ours."""

_CODECS = {
    "MPEGInfo": "mp3",
    "OggOpusInfo": "opus",
    "OggVorbisInfo": "vorbis",
    "OggFLACInfo": "flac",
    "StreamInfo": "flac",
    "AIFFInfo": "pcm",
}
"""Codec by mutagen's stream-info class, where the class says it (MP4 names its codec itself; WAV says it in
its format tag, `_WAVE_FORMATS`)."""

_WAVE_FORMATS = {1: "pcm", 3: "pcm (float)", 6: "alaw", 7: "mulaw", 0xFFFE: "pcm"}
"""WAV's format tag (`WaveStreamInfo.audio_format`) -> codec; others (ADPCM, MP3 in WAV, ...) say nothing."""

_AIFC_CODECS = {
    **dict.fromkeys((b"NONE", b"twos", b"sowt", b"raw ", b"in24", b"in32", b"42ni", b"23ni"), "pcm"),
    **dict.fromkeys((b"fl32", b"FL32", b"fl64", b"FL64"), "pcm (float)"),
    **dict.fromkeys((b"ulaw", b"ULAW"), "mulaw"),
    **dict.fromkeys((b"alaw", b"ALAW"), "alaw"),
    b"ima4": "adpcm (ima4)",
}
"""An AIFF-C's compression type (its ``COMM`` chunk) -> codec; others say nothing."""

_ID3_FRAMES = {
    "TIT2": "title",
    "TPE1": "artist",
    "TALB": "album",
    "TPE2": "album_artist",
    "TRCK": "track",
    "TDRC": "date",
    "TCON": "genre",
}
"""ID3 frames -> ours, for the ID3 chunk of WAV and AIFF files (mutagen has no "easy" view of those)."""

_MIN_BYTES_PER_SECOND = 1
"""A reported duration longer than one second per byte of the file (8 bit/s, below any codec, even FLAC of
silence) is a header's nonsense (a WAV claiming 2^32 - 1 s): unknown."""

_OPUS_RATE = 48_000
"""Opus always decodes at 48 kHz (its header's "input sample rate" is only the source's, for information)."""


class AudioTags(BaseModel):
    """The common tags of a file, as it stores them."""

    model_config = ConfigDict(frozen=True)

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    album_artist: str | None = None
    track: str | None = Field(default=None, description='As stored: "3" or "3/12".')
    date: str | None = Field(default=None, description="As stored: a year or a date.")
    genre: str | None = None


class AudioFacts(BaseModel):
    """What mutagen could tell of a file's sound; None where the format does not say."""

    model_config = ConfigDict(frozen=True)

    audio_codec: str | None = None
    duration: float | None = None
    bitrate: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    tags: AudioTags | None = None
    tag_frames_dropped: int | None = None
    """ID3 frames left out of `tags` because their sizes did not fit in the tag (None: none)."""


class AudioUnreadableError(Exception):
    """mutagen recognised the format but could not read it (truncated or corrupt headers)."""


def audio_facts(path: Path) -> AudioFacts | None:
    """The audio facts of `path` (blocking); None when mutagen does not know its format. Raises
    AudioUnreadableError when it knows the format but cannot read the file, or when the file holds more or
    bigger tags and structures than mutagen is let parse (`metadata.audio_prescan`)."""
    scanned = prescan(path)
    if scanned.refused is not None:
        raise AudioUnreadableError(scanned.refused)
    if (unbelievable := pcm_header.check(path)) is not None:
        raise AudioUnreadableError(unbelievable)
    try:
        found = mutagen.File(path, easy=True)
    except mutagen.MutagenError as exc:
        raise AudioUnreadableError(str(exc) or type(exc).__name__) from None
    except (  # hostile headers; MemoryError is not one of them: it propagates
        ValueError,
        IndexError,
        KeyError,
        OverflowError,
        EOFError,
        struct.error,  # Ogg Opus header cut short
        RecursionError,  # nested MP4 atoms
    ) as exc:
        raise AudioUnreadableError(f"{type(exc).__name__} while reading its headers") from None
    if found is None:
        return None
    info = found.info
    length = _positive(info, "length")
    if length is not None and length * _MIN_BYTES_PER_SECOND > path.stat().st_size:
        length = None
    tags, dropped = _tags(found.tags), None
    if scanned.misframed_id3 is not None and isinstance(found.tags, ID3 | EasyID3):
        tags, dropped = _repaired_tags(path, scanned.misframed_id3)
    codec, bitrate = _codec(info), _whole(info, "bitrate")
    if type(info).__name__ == "AIFFInfo":
        codec = _aifc_codec(path)
        bitrate = bitrate if codec in ("pcm", "pcm (float)") else None  # mutagen's: the PCM one
    sample_rate = _OPUS_RATE if type(info).__name__ == "OggOpusInfo" else _whole(info, "sample_rate")
    channels = _whole(info, "channels")
    why = pcm_header.bounded(channels, sample_rate)
    if why is not None:  # any format's header (an Ogg Vorbis one holds a 32-bit rate)
        raise AudioUnreadableError(why)
    return AudioFacts(
        audio_codec=codec,
        duration=None if length is None else round(length, 3),
        bitrate=bitrate,
        sample_rate=sample_rate,
        channels=channels,
        tags=tags,
        tag_frames_dropped=dropped,
    )


def _repaired_tags(path: Path, offset: int) -> tuple[AudioTags | None, int | None]:
    """The tags of the ID3 tag at `offset` whose frame sizes do not add up, from the frames that fit (mutagen
    would read the frames after a bad one as its content), and how many stretches were dropped."""
    with path.open("rb") as file:
        file.seek(offset)
        head = file.read(ID3_HEADER)
        length = id3v2_length(head)
        if length is None:  # the pre-scan read a tag here
            return None, None
        rebuilt = rebuild_id3(head + file.read(length - ID3_HEADER))
    if rebuilt is None:
        return None, None
    read_id3: Any = ID3  # mutagen is untyped
    try:
        tag = read_id3(io.BytesIO(rebuilt.tag))
    except (mutagen.MutagenError, ValueError, KeyError, IndexError, struct.error):
        return None, rebuilt.dropped
    return _id3_tags(tag), rebuilt.dropped


def _codec(info: Any) -> str | None:
    named = getattr(info, "codec", None)  # MP4: "mp4a.40.2", "alac", "ac-3", ...
    if isinstance(named, str) and named:
        described = getattr(info, "codec_description", None)
        return f"{named} ({described})" if isinstance(described, str) and described else named
    if type(info).__name__ == "WaveStreamInfo":
        return _WAVE_FORMATS.get(getattr(info, "audio_format", None))  # type: ignore[arg-type]
    return _CODECS.get(type(info).__name__)


def _aifc_codec(path: Path) -> str | None:
    """An AIFF's codec: PCM; an AIFF-C's: the compression type of its ``COMM`` chunk (`_AIFC_CODECS`), which
    mutagen does not read. The top-level chunks are walked by their headers (the pre-scan bounded them)."""
    with path.open("rb") as file:
        head = file.read(12)
        if head[8:12] != b"AIFC":
            return "pcm"
        pos, end = 12, 8 + int.from_bytes(head[4:8], "big")
        while pos + 8 <= end:
            file.seek(pos)
            header = file.read(8)
            if len(header) < 8:
                return None
            size = int.from_bytes(header[4:8], "big")
            if header[:4] == b"COMM":
                common = file.read(min(size, 22))
                return _AIFC_CODECS.get(common[18:22]) if len(common) == 22 else None
            pos += 8 + size + size % 2
    return None


def _positive(info: Any, name: str) -> float | None:
    """`info.<name>` when it is a positive finite number (a format without it, or 0: unknown)."""
    value = getattr(info, name, None)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def _whole(info: Any, name: str) -> int | None:
    value = _positive(info, name)
    return None if value is None else round(value)


def _tags(tags: Any) -> AudioTags | None:
    if not tags:
        return None
    if isinstance(tags, ID3):  # WAV, AIFF: plain ID3 (an "easy" one, EasyID3, is no ID3)
        return _id3_tags(tags)
    found: dict[str, str] = {}
    for theirs, ours in _TAGS.items():
        try:
            values = tags.get(theirs)
        except (ValueError, KeyError):  # a tag block that decodes badly: the other fields still count
            continue
        text = _clean(_joined(values) if isinstance(values, list) else values)
        if text:
            found[ours] = text
    return AudioTags.model_validate(found) if found else None


def _id3_tags(tags: Any) -> AudioTags | None:
    """`tags`: a mutagen ID3."""
    found: dict[str, str] = {}
    for frame_id, ours in _ID3_FRAMES.items():
        texts: list[Any] = []
        for frame in tags.getall(frame_id):
            values = getattr(frame, "genres", None) if frame_id == "TCON" else getattr(frame, "text", None)
            if isinstance(values, list):
                texts.extend(values)
        text = _clean(_joined(texts))
        if text:
            found[ours] = text
    return AudioTags.model_validate(found) if found else None


def _joined(values: list[Any]) -> str:
    """A tag's values as one text; empty ones (a frame's padding read as values) left out."""
    return " / ".join(text for value in values if (text := str(value)).strip("\x00 "))


def _clean(value: object) -> str | None:
    """A tag's text without control or format characters (a tag is shown as one line), cut to TAG_LIMIT."""
    if not isinstance(value, str):
        return None
    kept = "".join(
        " " if char in "\t\r\n" else char
        for char in value[: TAG_LIMIT * 2]
        if char in "\t\r\n" or unicodedata.category(char)[0] != "C"
    )
    text = " ".join(kept.split())[:TAG_LIMIT]
    return text or None
