"""The metadata probe at its edges: images of any size described from their headers (no pixel decoded, and
Pillow's limit left as it is for whatever decodes), MP3 tags kept around one malformed ID3 frame, and AIFF
probed as audio like WAV. Every file is made here, byte by byte or with imageio-ffmpeg's ffmpeg."""

from __future__ import annotations

import io
import struct
import subprocess
import time
import zlib
from typing import TYPE_CHECKING, Any

import imageio_ffmpeg
import pytest
from PIL import Image, ImageFile, WebPImagePlugin

from downloader.media_probe import ffmpeg_duration, media_container
from jobcommon.ffmpeg_inputs import AUDIO_CONTAINERS, cli_input_options
from jobcommon.sniff import sniff
from metadata.id3_repair import RESUME_TRIES
from metadata.probe import probe_file
from tests.support.photos import make_exif_jpeg

if TYPE_CHECKING:
    from pathlib import Path

HUGE = 20_000
"""A side of the huge images: 400 M pixels, past twice Pillow's default limit (179 M)."""


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
        check=True,
        timeout=60,
    )


# Images


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F], exif[0x0110] = "Acme", "Scan 9"
    return exif.tobytes()


def _bilevel_png(path: Path, width: int, height: int, *, exif: bytes | None = None) -> Path:
    """A 1-bit PNG of white rows (a few KB at any size), with an ``eXIf`` chunk after its image data."""
    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))]
    chunks.append(_png_chunk(b"IDAT", data))
    if exif is not None:
        chunks.append(_png_chunk(b"eXIf", exif))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(chunks) + _png_chunk(b"IEND", b""))
    return path


def _huge_jpeg(path: Path) -> Path:
    """A JPEG whose frame header (SOF0) declares HUGE x HUGE: its EXIF and headers are real, its scan is a
    small image's (nothing here decodes it)."""
    make_exif_jpeg(path, orientation=6, camera=("Acme", "Giga 1"), taken="2024:05:06 07:08:09")
    data = bytearray(path.read_bytes())
    pos = 2
    while data[pos + 1] != 0xC0:  # walk the segments to the frame header
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    data[pos + 5 : pos + 9] = struct.pack(">HH", HUGE, HUGE)  # height, width
    path.write_bytes(bytes(data))
    return path


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) % 2)


def _huge_webp(path: Path, exif: bytes) -> Path:
    """An extended WebP (VP8X) of a 16000 x 16000 canvas with alpha, an ICC profile and EXIF, whose image is a
    small lossless one: its headers are all the probe reads."""
    small = io.BytesIO()
    Image.new("RGBA", (4, 4), (1, 2, 3, 4)).save(small, "WEBP", lossless=True)
    image = small.getvalue()[12:]  # the VP8L chunk
    side = 16_000 - 1
    flags = 0x20 | 0x10 | 0x08  # ICC, alpha, EXIF
    vp8x = bytes((flags, 0, 0, 0)) + side.to_bytes(3, "little") + side.to_bytes(3, "little")
    body = b"WEBP" + _riff_chunk(b"VP8X", vp8x) + _riff_chunk(b"ICCP", b"\x00" * 8) + image
    body += _riff_chunk(b"EXIF", exif)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.fixture
def no_pixel_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any decode of pixels fails the test."""

    def refuse(self: Any) -> None:
        raise AssertionError(f"pixels decoded: {type(self).__name__}")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(WebPImagePlugin.WebPImageFile, "load", refuse)


@pytest.mark.usefixtures("no_pixel_decoded")
def test_a_huge_png_is_described_from_its_header_with_its_late_exif(tmp_path: Path) -> None:
    scan = _bilevel_png(tmp_path / "scan.png", HUGE, HUGE // 2, exif=_exif(6))
    assert scan.stat().st_size < 100_000
    started = time.monotonic()
    info = probe_file(scan, tmp_path)
    assert time.monotonic() - started < 10
    assert (info.kind, info.container, info.image_format, info.color_mode) == ("image", "png", "PNG", "1")
    assert (info.width, info.height) == (HUGE, HUGE // 2)
    assert info.orientation == 6  # from the eXIf chunk after the image data, found without decoding it
    assert (info.display_width, info.display_height) == (HUGE // 2, HUGE)
    assert info.camera == "Acme Scan 9"
    assert info.icc_profile is False
    with pytest.raises(Image.DecompressionBombError):  # what decodes pixels keeps Pillow's limit
        Image.open(scan)


@pytest.mark.usefixtures("no_pixel_decoded")
def test_a_huge_jpeg_is_described_from_its_header(tmp_path: Path) -> None:
    photo = _huge_jpeg(tmp_path / "giga.jpg")
    info = probe_file(photo, tmp_path)
    assert (info.container, info.image_format, info.color_mode) == ("jpeg", "JPEG", "RGB")
    assert (info.width, info.height) == (HUGE, HUGE)
    assert info.orientation == 6
    assert info.camera == "Acme Giga 1"
    assert info.captured_at is not None
    assert info.captured_at.isoformat() == "2024-05-06T07:08:09"
    with pytest.raises(Image.DecompressionBombError):
        Image.open(photo)


@pytest.mark.usefixtures("no_pixel_decoded")
def test_a_huge_webp_is_described_from_its_chunk_headers(tmp_path: Path) -> None:
    """Pillow's WebP plugin would allocate the 1 GB canvas at open, and refuses past twice the limit."""
    picture = _huge_webp(tmp_path / "poster.webp", _exif(8))
    info = probe_file(picture, tmp_path)
    assert (info.container, info.image_format, info.color_mode) == ("webp", "WEBP", "RGBA")
    assert (info.width, info.height) == (16_000, 16_000)
    assert (info.orientation, info.camera, info.icc_profile) == (8, "Acme Scan 9", True)


@pytest.mark.usefixtures("no_pixel_decoded")
@pytest.mark.parametrize(
    ("name", "fmt", "mode", "options"),
    [
        ("small.png", "PNG", "RGBA", {}),
        ("small.gif", "GIF", "P", {}),
        ("small.tif", "TIFF", "RGB", {}),
        ("small.bmp", "BMP", "RGB", {}),
        ("lossy.webp", "WEBP", "RGB", {"quality": 80}),
        ("lossless.webp", "WEBP", "RGBA", {"lossless": True}),
        ("exif.webp", "WEBP", "RGB", {"exif": _exif(6)}),
    ],
)
def test_ordinary_images_say_what_pillow_says_without_decoding(
    tmp_path: Path, name: str, fmt: str, mode: str, options: dict[str, Any]
) -> None:
    path = tmp_path / name
    layout = "RGBA" if mode == "RGBA" else "RGB"
    with Image.new(layout, (40, 30), (10, 200, 30, 128)) as image:
        (image.convert("P") if mode == "P" else image).save(path, fmt, **options)
    info = probe_file(path, tmp_path)
    assert (info.image_format, info.color_mode, info.width, info.height) == (fmt, mode, 40, 30)
    if "exif" in options:
        assert (info.orientation, info.display_width, info.display_height) == (6, 30, 40)
    else:
        assert info.orientation is None


# MP3 tags around a malformed ID3 frame


def _syncsafe(size: int) -> bytes:
    return bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _frame(version: int, frame_id: bytes, data: bytes, size: int | None = None) -> bytes:
    stated = len(data) if size is None else size
    return frame_id + (_syncsafe(stated) if version == 4 else stated.to_bytes(4, "big")) + b"\x00\x00" + data


def _tag(version: int, *frames: bytes, padding: int = 0) -> bytes:
    body = b"".join(frames) + bytes(padding)
    return b"ID3" + bytes((version, 0, 0)) + _syncsafe(len(body)) + body


@pytest.fixture(scope="module")
def bare_mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    song = tmp_path_factory.mktemp("mp3") / "bare.mp3"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1", "-c:a", "libmp3lame",
            "-id3v2_version", "0", str(song))  # fmt: skip
    return song.read_bytes()


def _title(version: int) -> bytes:
    return _frame(version, b"TIT2", b"\x03" + "Jóga".encode())


def _artist(version: int) -> bytes:
    return _frame(version, b"TPE1", b"\x03" + "Björk".encode())


BAD_FRAMES = {
    "invalid UTF-8": lambda v: _frame(v, b"TALB", b"\x03Hom\xff\xfeogenic"),
    "unknown text encoding": lambda v: _frame(v, b"TALB", b"\x09Homogenic"),
    "size past the tag": lambda v: _frame(v, b"TALB", b"\x03Homogenic", size=400),
    "size too small": lambda v: _frame(v, b"TALB", b"\x03Homogenic", size=4),
    "bad frame id": lambda v: _frame(v, b"ta\x01b", b"\x03Homogenic"),
}


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("bad", sorted(BAD_FRAMES))
def test_one_malformed_id3_frame_loses_only_itself(
    tmp_path: Path, bare_mp3: bytes, version: int, bad: str
) -> None:
    song = tmp_path / "song.mp3"
    frame = BAD_FRAMES[bad](version)
    song.write_bytes(_tag(version, _title(version), frame, _artist(version), padding=64) + bare_mp3)
    info = probe_file(song, tmp_path)
    assert (info.kind, info.audio_codec) == ("audio", "mp3")
    assert info.tags is not None
    assert info.tags.model_dump(exclude_none=True) == {"title": "Jóga", "artist": "Björk"}
    if bad.startswith("size") or bad == "bad frame id":  # the tag's walk was repaired
        assert info.tag_frames_dropped == 1


@pytest.mark.parametrize("version", [3, 4])
def test_a_last_frame_running_past_the_tag_keeps_the_others(
    tmp_path: Path, bare_mp3: bytes, version: int
) -> None:
    """A tag cut short (its last frame's size reaches past it): the frames before it count."""
    song = tmp_path / "cut.mp3"
    cut = _frame(version, b"TALB", b"\x03Homo", size=300)
    song.write_bytes(_tag(version, _title(version), _artist(version), cut) + bare_mp3)
    info = probe_file(song, tmp_path)
    assert info.tags is not None
    assert (info.tags.title, info.tags.artist, info.tags.album) == ("Jóga", "Björk", None)
    assert info.tag_frames_dropped == 1


def test_a_well_formed_tag_is_read_as_mutagen_reads_it(tmp_path: Path, bare_mp3: bytes) -> None:
    song = tmp_path / "fine.mp3"
    album = _frame(4, b"TALB", b"\x03Homogenic")
    song.write_bytes(_tag(4, _title(4), album, _artist(4), padding=32) + bare_mp3)
    info = probe_file(song, tmp_path)
    assert info.tags is not None
    expected = {"title": "Jóga", "artist": "Björk", "album": "Homogenic"}
    assert info.tags.model_dump(exclude_none=True) == expected
    assert info.tag_frames_dropped is None


def test_a_bad_frame_before_megabytes_of_lookalike_headers_is_repaired_quickly(
    tmp_path: Path, bare_mp3: bytes
) -> None:
    """After a bad frame the walk looks for the next frame that fits, `RESUME_TRIES` candidates at most: a
    hostile tag of frame ids that never fit costs no more than that."""
    song = tmp_path / "hostile.mp3"
    lookalikes = b"TALB\xff\xff\xff\xff\x00\x00" * 400_000  # 4 MB of headers whose sizes never fit
    bad = _frame(3, b"TCON", b"\x03x", size=3)
    song.write_bytes(_tag(3, _title(3), bad, lookalikes) + bare_mp3)
    assert RESUME_TRIES < 400_000
    started = time.monotonic()
    info = probe_file(song, tmp_path)
    assert time.monotonic() - started < 10
    assert info.tags is not None
    assert info.tags.title == "Jóga"


# AIFF


@pytest.mark.parametrize(
    ("name", "codec_args", "codec"),
    [
        ("song.aiff", ["-c:a", "pcm_s16be"], "pcm"),
        ("song.aifc", ["-c:a", "pcm_s16le", "-f", "aiff"], "pcm"),  # AIFF-C, "sowt"
        ("law.aifc", ["-c:a", "pcm_mulaw", "-f", "aiff"], "mulaw"),
    ],
)
def test_an_aiff_is_probed_as_audio_like_a_wav(
    tmp_path: Path, name: str, codec_args: list[str], codec: str
) -> None:
    song = tmp_path / name
    tags = ["-write_id3v2", "1", "-metadata", "title=Jóga", "-metadata", "artist=Björk"]
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=2"]
    _ffmpeg(*sine, *codec_args, *tags, str(song))
    found = sniff(song)
    assert (found.kind, found.container) == ("audio", "aiff")
    info = probe_file(song, tmp_path)
    assert (info.kind, info.container, info.audio_codec) == ("audio", "aiff", codec)
    assert (info.sample_rate, info.channels) == (22050, 1)
    assert info.duration is not None
    assert 1.9 < info.duration < 2.1
    assert info.bitrate is not None
    assert info.bitrate > 0
    if name == "song.aiff":
        assert info.tags is not None
        assert (info.tags.title, info.tags.artist) == ("Jóga", "Björk")
    # FFmpeg may read it as the downloader does (its demuxer is on the whitelist), and only as AIFF
    assert "aiff" in AUDIO_CONTAINERS
    assert media_container(song) == "aiff"
    duration = ffmpeg_duration(song, imageio_ffmpeg.get_ffmpeg_exe())
    assert duration is not None
    assert 1.9 < duration < 2.1
    assert cli_input_options(["aiff"])[-1] == "aiff"
