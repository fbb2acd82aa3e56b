"""What a file is, from its first bytes: decide before any decoder sees it.

A playlist saved under a media name (``clip.mp4`` that is really an HLS playlist) would make FFmpeg's
demuxers open the local files named inside it (facts file §6); only files whose magic bytes announce a
media container go to OpenCV, only images to Pillow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pathlib import Path

Kind = Literal["video", "audio", "image", "playlist", "text", "unknown"]

HEAD_BYTES = 512
_TS_PACKET = 188
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_IMAGE_BRANDS = {b"avif": "avif", b"avis": "avif", b"heic": "heic", b"heix": "heic", b"mif1": "heif"}
_QUICKTIME_BRANDS = frozenset({b"qt  "})
_3GP_PREFIXES = (b"3gp", b"3g2")


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: Kind
    container: str | None = None
    """``mp4``, ``mov``, ``matroska``, ``webm``, ``avi``, ``mpegts``, ``jpeg``, ``png``, ``hls`` ..."""


def _iso_bmff(head: bytes) -> Sniffed:
    brand = head[8:12]
    if brand in _IMAGE_BRANDS:
        return Sniffed("image", _IMAGE_BRANDS[brand])
    if brand in _AUDIO_BRANDS:
        return Sniffed("audio", "m4a")
    if brand in _QUICKTIME_BRANDS:
        return Sniffed("video", "mov")
    if brand.startswith(_3GP_PREFIXES):
        return Sniffed("video", "3gp")
    return Sniffed("video", "mp4")


def _text(head: bytes) -> Sniffed | None:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"#EXTM3U"):
        return Sniffed("playlist", "hls" if b"#EXT-X-" in text else "m3u")
    lowered = text[:200].lower()
    if lowered.startswith((b"<?xml", b"<rss", b"<feed", b"<playlist", b"<smil", b"<mpd")):
        if any(tag in lowered for tag in (b"<rss", b"<feed", b"<playlist", b"<smil", b"<mpd")):
            return Sniffed("playlist", "xml")
        return Sniffed("text", "xml")
    if lowered.startswith((b"<!doctype html", b"<html")):
        return Sniffed("text", "html")
    if lowered.startswith(b"[playlist]"):
        return Sniffed("playlist", "pls")
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


def sniff_bytes(head: bytes) -> Sniffed:
    """Classify a file by its first bytes (`HEAD_BYTES` are plenty)."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _iso_bmff(head)
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"free", b"wide", b"skip"):
        return Sniffed("video", "mov")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "webm" if b"webm" in head[:64] else "matroska")
    if head.startswith(b"RIFF") and len(head) >= 12:
        form = head[8:12]
        if form == b"AVI ":
            return Sniffed("video", "avi")
        if form == b"WAVE":
            return Sniffed("audio", "wav")
        if form == b"WEBP":
            return Sniffed("image", "webp")
    if head.startswith(b"FLV\x01"):
        return Sniffed("video", "flv")
    if head.startswith(b"OggS"):
        return Sniffed("video" if b"theora" in head[:64] else "audio", "ogg")
    if head.startswith(b"\x00\x00\x01\xba"):
        return Sniffed("video", "mpeg")
    if len(head) > _TS_PACKET * 2 and head[0] == head[_TS_PACKET] == head[_TS_PACKET * 2] == 0x47:
        return Sniffed("video", "mpegts")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "png")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Sniffed("image", "gif")
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return Sniffed("image", "tiff")
    if head.startswith(b"BM") and len(head) >= 14:
        return Sniffed("image", "bmp")
    if head.startswith(b"fLaC"):
        return Sniffed("audio", "flac")
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return Sniffed("audio", "mp3")
    return _text(head) or Sniffed("unknown")


def sniff(path: Path) -> Sniffed:
    """Classify a file by its first bytes (reads at most `HEAD_BYTES`). Raises OSError."""
    with path.open("rb") as fh:
        return sniff_bytes(fh.read(HEAD_BYTES))
