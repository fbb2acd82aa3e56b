"""What a file is, from its first bytes: decided before any decoder sees it.

A playlist saved under a media name (``clip.mp4`` that is really an HLS or concat playlist) would make
FFmpeg's demuxers open the local files or URLs named inside it; the file's extension proves nothing. So every
service that decodes an input sniffs it first and hands only files whose magic bytes announce a media
container to FFmpeg/OpenCV, only images to Pillow. MP3 and AAC have no magic number: an ID3v2 tag or a frame
header is checked field by field (`jobcommon.mpeg_audio`), and a file that starts with ID3v2 tags is what
follows them, as FFmpeg skips a tag before it probes (``ID3`` in front of a playlist is a playlist).
`jobcommon.ffmpeg_inputs` is the second fence, inside FFmpeg. One vocabulary for every service:
`Sniffed.kind` and a lowercase `Sniffed.container` (``mp4``, ``mov``, ``matroska``, ``webm``, ``jpeg``,
``png``, ``hls`` …).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from jobcommon.mpeg_audio import frame_container, id3v2_length

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

Kind = Literal["video", "audio", "image", "playlist", "text", "unknown"]

HEAD_BYTES = 512
"""Bytes read from the start of a file: enough for every signature below (two MPEG-TS packets: 377)."""
TS_PACKET = 188
AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
HEIF_BRANDS = {
    **dict.fromkeys((b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"), "heic"),
    **dict.fromkeys((b"mif1", b"msf1"), "heif"),
}
QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
"""Top-level atoms a QuickTime file without an ``ftyp`` box may start with."""
BMP_INFO_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
"""Sizes of the BMP info headers that exist (the field right after the 14-byte file header)."""
MAX_ID3_TAGS = 4
"""ID3v2 tags skipped in a row before the audio they precede; more is no real file."""
_PLAYLIST_TAGS = (b"<rss", b"<feed", b"<playlist", b"<smil", b"<mpd")


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: Kind
    container: str | None = None
    """``mp4``, ``mov``, ``3gp``, ``m4a``, ``matroska``, ``webm``, ``avi``, ``flv``, ``ogg``, ``mpeg``,
    ``mpegts``, ``wav``, ``aiff`` (also AIFF-C), ``flac``, ``mp3``, ``aac``, ``jpeg``, ``png``, ``gif``,
    ``webp``, ``tiff``, ``bmp``, ``avif``, ``heic``, ``heif``; ``hls``, ``m3u``, ``pls``, ``xml``, ``html``,
    ``text``; None: unknown."""


UNKNOWN = Sniffed("unknown")

_PREFIXES: tuple[tuple[tuple[bytes, ...], Sniffed], ...] = (
    ((b"FLV\x01",), Sniffed("video", "flv")),
    ((b"\x00\x00\x01\xba",), Sniffed("video", "mpeg")),
    ((b"\xff\xd8\xff",), Sniffed("image", "jpeg")),
    ((b"\x89PNG\r\n\x1a\n",), Sniffed("image", "png")),
    ((b"GIF87a", b"GIF89a"), Sniffed("image", "gif")),
    ((b"II*\x00", b"MM\x00*"), Sniffed("image", "tiff")),
    ((b"fLaC",), Sniffed("audio", "flac")),
)
"""Formats told by a fixed prefix alone. (MP3 and AAC have none: `jobcommon.mpeg_audio`.)"""


def _ftyp_brands(head: bytes) -> set[bytes]:
    """Major and compatible brands of an ISO-BMFF ``ftyp`` box (as far as the head holds them)."""
    size = int.from_bytes(head[0:4], "big")
    end = min(len(head), size if 16 <= size <= 4096 else 16)
    return {head[8:12], *(head[i : i + 4] for i in range(16, end - 3, 4))}


def _iso_bmff(head: bytes) -> Sniffed | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    major = head[8:12]
    if _ftyp_brands(head) & AVIF_BRANDS:
        return Sniffed("image", "avif")
    if major in HEIF_BRANDS:
        return Sniffed("image", HEIF_BRANDS[major])
    if major in AUDIO_BRANDS:
        return Sniffed("audio", "m4a")
    if major == b"qt  ":
        return Sniffed("video", "mov")
    if major.startswith((b"3gp", b"3g2")):
        return Sniffed("video", "3gp")
    return Sniffed("video", "mp4")


def _quicktime(head: bytes) -> Sniffed | None:
    if len(head) >= 8 and head[4:8] in QUICKTIME_ATOMS and int.from_bytes(head[0:4], "big") >= 8:
        return Sniffed("video", "mov")
    return None


def _matroska(head: bytes) -> Sniffed | None:
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    return Sniffed("video", "webm" if b"webm" in head[:64] else "matroska")


def _riff(head: bytes) -> Sniffed | None:
    if not head.startswith(b"RIFF"):
        return None
    return {
        b"AVI ": Sniffed("video", "avi"),
        b"WAVE": Sniffed("audio", "wav"),
        b"WEBP": Sniffed("image", "webp"),
    }.get(head[8:12])


def _aiff(head: bytes) -> Sniffed | None:
    """AIFF and AIFF-C (compressed or little-endian PCM): an IFF ``FORM`` of type ``AIFF`` or ``AIFC``."""
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return Sniffed("audio", "aiff")
    return None


def _ogg(head: bytes) -> Sniffed | None:
    if not head.startswith(b"OggS"):
        return None
    return Sniffed("video" if b"theora" in head[:64] else "audio", "ogg")


def _mpegts(head: bytes) -> Sniffed | None:
    if len(head) > TS_PACKET * 2 and head[0] == head[TS_PACKET] == head[TS_PACKET * 2] == 0x47:
        return Sniffed("video", "mpegts")
    return None


def _prefixed(head: bytes) -> Sniffed | None:
    for prefixes, found in _PREFIXES:
        if head.startswith(prefixes):
            return found
    if head.startswith(b"BM") and int.from_bytes(head[14:18], "little") in BMP_INFO_SIZES:
        return Sniffed("image", "bmp")
    if (audio := frame_container(head)) is not None:
        return Sniffed("audio", audio)
    return None


def _markup(text: bytes) -> Sniffed | None:
    """Playlists and documents in text form (`text` is the head without BOM and leading white space)."""
    if text.startswith(b"#EXTM3U"):
        return Sniffed("playlist", "hls" if b"#EXT-X-" in text else "m3u")
    lowered = text[:200].lower()
    if lowered.startswith((b"<?xml", *_PLAYLIST_TAGS)):
        return Sniffed("playlist" if any(tag in lowered for tag in _PLAYLIST_TAGS) else "text", "xml")
    if lowered.startswith((b"<!doctype html", b"<html")):
        return Sniffed("text", "html")
    if lowered.startswith(b"[playlist]"):
        return Sniffed("playlist", "pls")
    return None


def _text(head: bytes) -> Sniffed | None:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if (found := _markup(text)) is not None:
        return found
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:  # (a multi-byte character cut at the end of the head is fine)
        try:
            decoded = text[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not decoded or any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in decoded):
        return None
    return Sniffed("text", "text")


_DETECTORS: tuple[Callable[[bytes], Sniffed | None], ...] = (
    _iso_bmff,
    _quicktime,
    _matroska,
    _riff,
    _aiff,
    _ogg,
    _mpegts,
    _prefixed,
    _text,
)
"""In order: the first that recognises the head decides."""


def _detect(head: bytes) -> Sniffed:
    for detect in _DETECTORS:
        if (found := detect(head)) is not None:
            return found
    return UNKNOWN


def _behind_tags(head: bytes, read_at: Callable[[int], bytes]) -> Sniffed:
    """A file that starts with ID3v2 tags is what follows them: FFmpeg skips a tag before it probes.

    Audio behind the tags is that audio (MP3, AAC, FLAC, …); a playlist or text behind them is reported as
    what it is; anything else, or tags without end, is unknown.
    """
    offset = 0
    for _ in range(MAX_ID3_TAGS):
        length = id3v2_length(head)
        if length is None:
            found = _detect(head)
            return found if found.kind in ("audio", "playlist", "text") else UNKNOWN
        offset += length
        head = read_at(offset)
    return UNKNOWN


def _sniff(head: bytes, read_at: Callable[[int], bytes]) -> Sniffed:
    if id3v2_length(head) is not None:
        return _behind_tags(head, read_at)
    return _detect(head)


def sniff_bytes(head: bytes) -> Sniffed:
    """What the first bytes of a file (`HEAD_BYTES` are plenty) announce.

    Behind an ID3v2 tag the head may hold too little to tell: a tag that ends past it (cover art) makes the
    file unknown here; `sniff` reads on from the file.
    """
    return _sniff(head, lambda offset: head[offset : offset + HEAD_BYTES])


def read_head(path: Path) -> bytes:
    """The first `HEAD_BYTES` of a file (blocking). Raises OSError."""
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


def sniff(path: Path) -> Sniffed:
    """What a file is, from its first `HEAD_BYTES` and, behind ID3v2 tags, the `HEAD_BYTES` after them
    (blocking). Raises OSError."""
    with path.open("rb") as fh:

        def read_at(offset: int) -> bytes:
            fh.seek(offset)
            return fh.read(HEAD_BYTES)

        return _sniff(read_at(0), read_at)
