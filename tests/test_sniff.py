"""`jobcommon.sniff`: one vocabulary for what a file's first bytes announce, whichever service asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobcommon.sniff import HEAD_BYTES, sniff, sniff_bytes

HLS = "#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:1.0,\n/etc/hostname\n#EXT-X-ENDLIST\n"
TS_PACKETS = (b"\x47" + b"\x00" * 187) * 3


@pytest.mark.parametrize(
    ("head", "kind", "container"),
    [
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "video", "mp4"),
        (b"\x00\x00\x00\x18ftypqt  \x00\x00\x02\x00", "video", "mov"),
        (b"\x00\x00\x00\x18ftyp3gp5\x00\x00\x02\x00", "video", "3gp"),
        (b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00", "audio", "m4a"),
        (b"\x00\x00\x00\x18ftypavif\x00\x00\x02\x00", "image", "avif"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00avifmif1", "image", "avif"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image", "heic"),
        (b"\x00\x00\x00\x10ftypmif1\x00\x00\x00\x00", "image", "heif"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "video", "mov"),
        (b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x42\x82\x84webm", "video", "webm"),
        (b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x42\x82\x88matroska", "video", "matroska"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "video", "avi"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio", "wav"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image", "webp"),
        (b"FLV\x01\x05", "video", "flv"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x80theora", "video", "ogg"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis", "audio", "ogg"),
        (b"\x00\x00\x01\xba\x44", "video", "mpeg"),
        (TS_PACKETS, "video", "mpegts"),
        (b"\xff\xd8\xff\xe1\x00\x10Exif", "image", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00", "image", "png"),
        (b"GIF89a\x01\x00", "image", "gif"),
        (b"II*\x00\x08\x00", "image", "tiff"),
        (b"BM" + b"\x00" * 12 + b"\x28\x00\x00\x00", "image", "bmp"),
        (b"fLaC\x00", "audio", "flac"),
        (b"FORM\x00\x01\x59\x02AIFFCOMM", "audio", "aiff"),
        (b"FORM\x00\x01\x58\xc8AIFCFVER", "audio", "aiff"),
        (b"FORM\x00\x00\x10\x008SVXVHDR", "unknown", None),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00FORM\x00\x00\x00\x04AIFF", "audio", "aiff"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + b"\xff\xfb\x90\x64", "audio", "mp3"),
        (b"ID3\x04\x00", "unknown", None),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + HLS.encode(), "playlist", "hls"),
        (b"\xff\xfb\x90\x00", "audio", "mp3"),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc", "audio", "aac"),
        (b"\xff\xff\xff\xff", "unknown", None),
        (b"BM is not a bitmap, just words\n", "text", "text"),
        (HLS.encode(), "playlist", "hls"),
        (b"#EXTM3U\n/media/a.mp3\n", "playlist", "m3u"),
        (b"\xef\xbb\xbf[playlist]\nFile1=a.mp3\n", "playlist", "pls"),
        (b'<?xml version="1.0"?><rss version="2.0">', "playlist", "xml"),
        (b'<?xml version="1.0"?><note/>', "text", "xml"),
        (b"<!DOCTYPE html><html>", "text", "html"),
        ("plain words, ünïcode\n".encode(), "text", "text"),
        (b"\x00" * 512, "unknown", None),
        (b"", "unknown", None),
    ],
)
def test_magic_bytes_name_kind_and_container(head: bytes, kind: str, container: str | None) -> None:
    """Each signature maps to one kind and one lowercase container name."""
    found = sniff_bytes(head)
    assert (found.kind, found.container) == (kind, container)


def test_a_playlist_named_like_a_video_is_a_playlist(tmp_path: Path) -> None:
    """The extension proves nothing: a file is read for its first bytes only."""
    disguised = tmp_path / "clip.mp4"
    disguised.write_text(HLS + "#" * (4 * HEAD_BYTES))
    found = sniff(disguised)
    assert (found.kind, found.container) == ("playlist", "hls")
