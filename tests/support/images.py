"""Offline test images and videos for the imaging service, generated with OpenCV, numpy and Pillow.

Videos are MPEG-4 Part 2 (`mp4v`) written by cv2.VideoWriter, like `tests.support.media.make_mp4`.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

Frame = npt.NDArray[np.uint8]

COLOURS: list[tuple[int, int, int]] = [
    (220, 30, 30),
    (30, 200, 30),
    (30, 30, 220),
    (230, 230, 40),
    (200, 40, 200),
    (40, 210, 210),
    (250, 140, 20),
    (120, 60, 20),
]
"""RGB colour of second i of a colour clip: COLOURS[i % len(COLOURS)]."""


def write_video(
    path: Path, frames: int, fps: float, size: tuple[int, int], draw: Callable[[int], Frame]
) -> Path:
    """Write `frames` BGR frames from `draw(i)` to an mp4v file (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), float(fps), size)
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter could not open {tmp}")
    try:
        for i in range(frames):
            writer.write(draw(i))
    finally:
        writer.release()
    os.replace(tmp, path)
    return path


def pattern(size: tuple[int, int]) -> Frame:
    """A sharp, distinctive BGR pattern: 16 px checkerboard, a red disc, a thin white grid."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    board = (((x // 16) + (y // 16)) % 2 * 180 + 40).astype(np.uint8)
    frame = np.dstack([board, board, board])
    cv2.circle(frame, (width // 3, height // 2), height // 5, (0, 0, 255), -1)
    frame[::8, :] = 255
    return frame


def make_sharp_clip(
    path: Path,
    *,
    seconds: float = 5.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    sharp: tuple[float, float] = (2.3, 2.7),
) -> Path:
    """Black for 0.4 s, then the pattern heavily blurred, except sharp during `sharp` (seconds)."""
    crisp = pattern(size)
    blurred: Frame = np.asarray(cv2.GaussianBlur(crisp, (0, 0), 9), dtype=np.uint8)
    black = np.zeros_like(crisp)

    def draw(i: int) -> Frame:
        t = i / fps
        if t < 0.4:
            return black
        return crisp if sharp[0] <= t < sharp[1] else blurred

    return write_video(path, round(seconds * fps), fps, size, draw)


def make_colour_clip(
    path: Path, *, seconds: float = 8.0, fps: int = 25, size: tuple[int, int] = (320, 240)
) -> Path:
    """Each second a solid colour, COLOURS[second], with a small white square so frames are not flat."""

    def draw(i: int) -> Frame:
        r, g, b = COLOURS[(i // fps) % len(COLOURS)]
        frame = np.full((size[1], size[0], 3), (b, g, r), dtype=np.uint8)
        frame[10:30, 10:30] = 255
        return frame

    return write_video(path, round(seconds * fps), fps, size, draw)


def halves(size: tuple[int, int], left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    """An RGB image: the left half one colour, the right half another."""
    image = Image.new("RGB", size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def save_jpeg(
    image: Image.Image,
    path: Path,
    *,
    orientation: int | None = None,
    exif_tags: dict[int, str] | None = None,
    icc_profile: bytes | None = None,
    quality: int = 95,
) -> Path:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    for tag, value in (exif_tags or {}).items():
        exif[tag] = value
    options: dict[str, object] = {"quality": quality, "exif": exif.tobytes()}
    if icc_profile is not None:
        options["icc_profile"] = icc_profile
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", **options)
    return path


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def photo(size: tuple[int, int], seed: int = 7) -> Image.Image:
    """A photo-like RGB image: smooth gradients plus fine noise (compresses like a photo)."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 128 + 100 * np.sin(x / 97.0 + seed)
    g = 128 + 100 * np.cos(y / 71.0 + seed)
    b = 128 + 60 * np.sin((x + y) / 53.0)
    base = np.dstack([r, g, b]) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_bomb_png(path: Path, width: int, height: int) -> Path:
    """A small PNG file whose header declares `width` x `height` pixels (a decompression bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * 1024)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def animation_frame(index: int, size: tuple[int, int]) -> Image.Image:
    """Frame `index` of a test animation: COLOURS[index] (cycling) with a white bar at x = 8 * index."""
    image = Image.new("RGB", size, COLOURS[index % len(COLOURS)])
    left = (8 * index) % size[0]
    image.paste((255, 255, 255), (left, 0, min(left + 6, size[0]), size[1]))
    return image


def write_animation(
    path: Path,
    pillow_format: str,
    durations: Sequence[int],
    *,
    size: tuple[int, int] = (120, 80),
    loop: int | None = 0,
    exif: bytes | None = None,
) -> Path:
    """An animation (``GIF``, ``WEBP``, ``PNG`` as APNG) of len(durations) frames (`animation_frame`), frame i
    shown durations[i] ms (GIF: multiples of 10), `loop` as the format's writer takes it (None: GIF without a
    loop count, played once), with `exif` (WebP, APNG)."""
    frames = [animation_frame(i, size) for i in range(len(durations))]
    options: dict[str, object] = {"save_all": True, "append_images": frames[1:], "duration": list(durations)}
    if loop is not None:
        options["loop"] = loop
    if pillow_format == "WEBP":
        options["lossless"] = True
    if exif is not None:
        options["exif"] = exif
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, pillow_format, **options)
    return path


def write_gif_of_tiny_frames(
    path: Path, screen: tuple[int, int], frames: int, *, later_at: tuple[int, int] = (0, 0)
) -> Path:
    """A GIF whose `screen` (its canvas) holds `frames` frames of 2x2 pixels each: a small file that decodes
    to frames x screen pixels (every frame is composited onto the whole canvas). Frames after the first are
    drawn at `later_at`: past the screen, they grow the canvas Pillow decodes them on."""
    tiny = Image.new("P", (2, 2), 1)
    tiny.putpalette([0, 0, 0, 255, 255, 255])
    buffer = io.BytesIO()
    tiny.save(buffer, "GIF", optimize=False)
    data = buffer.getvalue()
    descriptor = data.index(b"\x2c" + struct.pack("<HHHH", 0, 0, 2, 2))
    image = data[descriptor:-1]  # the 2x2 frame: its descriptor and data, without the trailer
    later = b"\x2c" + struct.pack("<HH", *later_at) + image[5:]
    width, height = screen
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    control = b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # 100 ms, no transparency
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + loop + control + image + (control + later) * (frames - 1) + b"\x3b")
    return path


def write_jpeg_declaring(path: Path, width: int, height: int) -> Path:
    """A small JPEG whose frame header (SOF0) declares `width` x `height`: the size of a decompression bomb,
    the data of a 16x16 image (decoding it would fail as truncated)."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 128, 128)).save(buffer, "JPEG", quality=80)
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


def write_truncated(source: Path, path: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def write_corrupt_jpeg(path: Path, seed: int = 3) -> Path:
    """JPEG magic bytes, then noise."""
    rng = np.random.default_rng(seed)
    path.write_bytes(b"\xff\xd8\xff\xe0" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def laplacian_var(image: Image.Image) -> float:
    grey = np.asarray(image.convert("L"))
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def mean_colour(image: Image.Image, box: Sequence[int] | None = None) -> tuple[float, float, float]:
    region = image.convert("RGB")
    if box is not None:
        left, top, right, bottom = box
        region = region.crop((left, top, right, bottom))
    r, g, b = np.asarray(region, dtype=np.float64).reshape(-1, 3).mean(axis=0)
    return float(r), float(g), float(b)


def write_webp_declaring(path: Path, width: int, height: int) -> Path:
    """A small WebP whose VP8X header declares a `width` x `height` canvas, followed by the data of a 4x4
    image (Pillow's WebP plugin checks the declared size itself, raising its own DecompressionBombError)."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (128, 128, 128)).save(buffer, "WEBP", lossless=True)
    image = buffer.getvalue()[12:]  # the VP8L chunk, without the RIFF header
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + image
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path
