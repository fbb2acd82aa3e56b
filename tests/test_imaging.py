"""The imaging service end to end: real files, a real Redis database of its own (12), a real imaging process.

Media is generated here (OpenCV videos with blurred/black/sharp or colour-coded frames, Pillow images with
EXIF orientation, ICC profiles, palettes, CMYK) into a MEDIA_ROOT of this module's own. Jobs are submitted
with `JobClient`, and outputs are opened and measured with Pillow/OpenCV.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import imageio_ffmpeg
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from pydantic import ValidationError
from redis.asyncio import Redis

from imaging import resize
from imaging.decode import open_image
from imaging.encode import save_animation
from imaging.errors import BadMedia
from imaging.geometry import bounding
from imaging.settings import ImagingSettings
from imaging.work import CancelToken, Work
from jobcommon import CommonSettings, ImageResizeRequest, Job, JobClient, JobStatus, ResizeSpec
from jobcommon.presence import live_services
from jobcommon.sniff import sniff
from tests.conftest import service_env
from tests.support.images import (
    COLOURS,
    Frame,
    animation_frame,
    halves,
    laplacian_var,
    make_colour_clip,
    make_sharp_clip,
    mean_colour,
    pattern,
    photo,
    save_jpeg,
    srgb_profile,
    write_animation,
    write_bomb_png,
    write_corrupt_jpeg,
    write_gif_of_tiny_frames,
    write_jpeg_declaring,
    write_truncated,
    write_video,
    write_webp_declaring,
)
from tests.support.media import make_mp4
from tests.support.otlp import OtlpReceiver
from tools.procs import ServiceProcess

DB = 12
RED, BLUE = (230, 20, 20), (20, 20, 230)
MAKE_TAG = 0x010F
ORIENTATION_TAG = 0x0112
GIF_DURATIONS = [100, 120, 140, 160, 180, 200, 220, 240, 260, 280]
"""anim.gif: 10 frames (GIF durations are in 1/100 s), looping forever."""
WEBP_DURATIONS = [90, 110, 130, 150, 170, 190, 210, 230, 250, 270]
"""anim.webp: 10 frames, played twice (loop 2)."""
APNG_DURATIONS = [50, 100, 150, 200, 250, 300]
"""anim.png: 6 frames, played 3 times."""
PLAYLIST = "#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:1.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"


@dataclass
class Imaging:
    client: JobClient
    media_root: Path
    proc: ServiceProcess

    async def run(self, body: dict[str, Any], timeout: float = 30.0) -> Job:
        job = (await self.client.submit(body)).job
        try:
            return await self.client.wait(job.task_id, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"job {body} not done in {timeout} s\n{self.proc.output()}") from None

    def open(self, relative: str) -> Image.Image:
        image = Image.open(self.media_root / relative)
        image.load()
        return image


def _same(frame: Frame, _index: int) -> Frame:
    return frame


def _close(a: tuple[float, ...], b: tuple[float, ...], tolerance: float = 40.0) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


CUT_FPS = 10


def _h264_clip(path: Path, seconds: int, *, keep: float = 1.0) -> Path:
    """A moving H.264 test pattern (every frame differs), 320x180 at `CUT_FPS`, with B-frames and a keyframe
    every 5 s, its index at the front; `keep` < 1 cuts the file to that share of its bytes (the index still
    states every frame, as in a download cut short). With B-frames, a seek past the data of a cut file reads
    the last frame the decoder held back (without them the read fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    source = f"testsrc2=duration={seconds}:size=320x180:rate={CUT_FPS}"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset", "veryfast", "-b:v", "100k",
         "-g", str(5 * CUT_FPS), "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    with path.open("r+b") as fh:
        fh.truncate(int(path.stat().st_size * keep))
    return path


def _decoded(path: Path, wanted: set[int]) -> tuple[int, dict[int, Frame]]:
    """How many frames of `path` decode in one sequential pass, and the `wanted` ones among them (BGR)."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames: dict[int, Frame] = {}
    count = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return count, frames
            if count in wanted:
                frames[count] = np.asarray(frame, dtype=np.uint8)
            count += 1
    finally:
        cap.release()


def _differs(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Mean absolute difference of two images' channel values (0: the same pixels)."""
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's MEDIA_ROOT, filled with the test inputs."""
    root = tmp_path_factory.mktemp("imaging_media")
    make_sharp_clip(root / "clips" / "sharp.mp4")
    make_colour_clip(root / "clips" / "colours.mp4")
    (root / "clips" / "playlist.mp4").write_text(PLAYLIST)
    save_jpeg(
        halves((400, 200), RED, BLUE),
        root / "images" / "rotated.jpg",
        orientation=6,
        exif_tags={MAKE_TAG: "TestMake"},
        icc_profile=srgb_profile(),
    )
    photo((1600, 1200)).save(root / "images" / "photo.jpg", quality=100, exif=Image.Exif().tobytes())
    photo((600, 400)).convert("CMYK").save(root / "images" / "cmyk.jpg", quality=90)
    palette = Image.new("P", (120, 80), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.paste(1, (60, 0, 120, 80))
    palette.save(root / "images" / "palette.png", transparency=0)
    write_corrupt_jpeg(root / "images" / "corrupt.jpg")
    write_truncated(root / "images" / "photo.jpg", root / "images" / "truncated.jpg", 0.4)
    write_bomb_png(root / "images" / "bomb.png", 30_000, 30_000)
    write_bomb_png(root / "images" / "bomb_warning.png", 10_000, 10_000)
    for i in range(9):
        colour = COLOURS[i % len(COLOURS)]
        frame = np.full((120, 160, 3), colour[::-1], dtype=np.uint8)
        frame[::6, :] = 255
        write_video(root / "bulk" / f"v{i}.mp4", 25, 25, (160, 120), functools.partial(_same, frame))
    (root / "bulk" / "broken.mp4").write_text(PLAYLIST)
    make_mp4(root / "long" / "noisy.mp4", seconds=6.0, width=640, height=480, noise=True)
    _h264_clip(root / "long" / "whole_65s.mp4", 65)
    _h264_clip(root / "long" / "cut_65s.mp4", 65, keep=0.2)  # ~13 s of data: read by seeking
    _h264_clip(root / "long" / "cut_59s.mp4", 59, keep=0.2)  # read in one sequential pass
    Image.new("RGB", (20_000, 3)).save(root / "images" / "wide.png")
    Image.new("RGB", (3, 40_000)).save(root / "images" / "tall.png")
    Image.new("L", (70_000, 2)).save(root / "images" / "very_wide.png")
    write_animation(root / "images" / "anim.gif", "GIF", GIF_DURATIONS)
    write_animation(root / "images" / "anim.webp", "WEBP", WEBP_DURATIONS, loop=2)
    write_animation(root / "images" / "anim.png", "PNG", APNG_DURATIONS, loop=3)
    write_animation(root / "images" / "once.gif", "GIF", [200, 300], loop=None)  # no loop count: plays once
    exif = Image.Exif()
    exif[ORIENTATION_TAG], exif[MAKE_TAG] = 6, "TestMake"
    write_animation(root / "images" / "rotated_anim.webp", "WEBP", [100, 100, 100], exif=exif.tobytes())
    write_gif_of_tiny_frames(root / "images" / "frames_bomb.gif", (3000, 3000), 20)  # 20 × 9 MP
    write_gif_of_tiny_frames(root / "images" / "endless.gif", (4, 4), 10_001)
    with halves((12_000, 9_000), RED, BLUE) as phone:  # a 108 MP phone photo
        phone.save(root / "images" / "phone_108mp.jpg", quality=80)
    write_jpeg_declaring(root / "images" / "bomb_400mp.jpg", 20_000, 20_000)
    outside = tmp_path_factory.mktemp("outside") / "secret.jpg"
    photo((64, 64)).save(outside)
    (root / "images" / "escape.jpg").symlink_to(outside)
    return root


@pytest.fixture(scope="module")
async def imaging(redis_url: str, otlp: OtlpReceiver, media: Path) -> AsyncIterator[Imaging]:
    url = redis_url.rsplit("/", 1)[0] + f"/{DB}"
    redis = Redis.from_url(url, decode_responses=True)
    await redis.flushdb()
    env = service_env(url, media, otlp, CONCURRENCY="4", IMAGING_WORKERS="2", PROGRESS_INTERVAL_S="0.1")
    proc = ServiceProcess("imaging", env)
    proc.start()
    client = JobClient(CommonSettings(redis_url=url, media_root=media))
    await client.start()
    try:
        deadline = time.monotonic() + 30
        while not any(s["service"] == "imaging" for s in await live_services(redis)):
            if time.monotonic() > deadline or not proc.alive():
                raise RuntimeError(f"imaging did not start:\n{proc.output()}")
            await asyncio.sleep(0.1)
        yield Imaging(client, media, proc)
    finally:
        await client.close()
        proc.stop()
        await redis.flushdb()
        await redis.aclose()


def _failed(job: Job, error_type: str) -> str:
    assert job.status == JobStatus.FAILED, job
    assert job.error is not None
    assert job.error.type == error_type, job.error
    assert "\n" not in job.error.message
    assert job.attempts == 1, "a permanent error is never retried"
    assert not job.dead
    return job.error.message


# -- thumbnails -----------------------------------------------------------------------------------------


async def test_thumbnail_picks_the_sharp_frame_of_a_mostly_blurred_clip(imaging: Imaging) -> None:
    """The thumbnail of a mostly blurred clip is its one sharp frame, at every size asked."""
    job = await imaging.run({"job_type": "thumbnail", "sources": ["clips/sharp.mp4"], "sizes": [320, 160]})
    assert job.status == JobStatus.SUCCEEDED, job
    result = job.result
    assert result is not None
    assert result["picked"] == "sharpest"
    assert 2.3 <= result["time_s"] < 2.7, result
    assert [(t["width"], t["height"]) for t in result["thumbnails"]] == [(320, 240), (160, 120)]
    assert result["path"] == result["thumbnails"][0]["path"] == f"{job.task_id}/thumb_320.jpg"
    assert result["video"] == {"width": 320, "height": 240, "fps": 25.0, "frames": 125, "duration_s": 5.0}
    scores = sorted(c["sharpness"] for c in result["candidates"])
    assert len(scores) == 5
    assert scores[-1] > 100 * scores[-2], result["candidates"]

    thumb = imaging.open(result["path"])
    assert (thumb.format, thumb.size) == ("JPEG", (320, 240))
    crisp = np.asarray(Image.fromarray(pattern((320, 240))[:, :, ::-1]), dtype=np.float64)
    assert np.abs(np.asarray(thumb, dtype=np.float64) - crisp).mean() < 12  # it is the sharp pattern
    assert laplacian_var(thumb) > 1000
    small = result["thumbnails"][1]
    assert (imaging.media_root / small["path"]).stat().st_size == small["bytes"]


async def test_thumbnail_at_s_takes_the_frame_at_that_time(imaging: Imaging) -> None:
    """at_s takes the frame at that time; past the end, the last frame."""
    times = {2.5: 2, 5.2: 5, 100.0: 7}  # 100 s is past the 8 s clip: its last frame
    jobs = await asyncio.gather(
        *(
            imaging.run({"job_type": "thumbnail", "sources": ["clips/colours.mp4"], "at_s": t, "sizes": [64]})
            for t in times
        )
    )
    for (at, second), job in zip(times.items(), jobs, strict=True):
        assert job.status == JobStatus.SUCCEEDED, job
        assert job.result is not None
        assert job.result["picked"] == "at_s"
        assert math.floor(job.result["time_s"]) == second, (at, job.result["time_s"])
        thumb = imaging.open(job.result["path"])
        assert thumb.size == (64, 48)
        assert _close(mean_colour(thumb, (20, 20, 60, 44)), COLOURS[second]), (at, mean_colour(thumb))


async def test_videos_cut_short_give_only_frames_that_decode(imaging: Imaging) -> None:
    """A video cut short (its index states 65 s, its data holds ~13 s) is read by seeking: thumbnails and
    storyboard tiles come only from frames that decode, as for one of 59 s read in one pass; every frame and
    time a result names is the one decoded there. An intact 65 s video gives every frame asked for."""
    lengths = {"long/cut_65s.mp4": 65, "long/cut_59s.mp4": 59, "long/whole_65s.mp4": 65}
    bodies = [
        body
        for source in lengths
        for body in (
            {"job_type": "thumbnail", "sources": [source], "sizes": [320], "format": "png"},
            {"job_type": "thumbnail", "sources": [source], "at_s": 30, "sizes": [320], "format": "png"},
            {
                "job_type": "storyboard",
                "sources": [source],
                "interval_s": 5,
                "tile_width": 64,
                "format": "png",
            },
        )
    ]
    jobs = await asyncio.gather(*(imaging.run(body, timeout=60) for body in bodies))
    for i, (source, seconds) in enumerate(lengths.items()):
        sharpest, at_30, board = (job.result for job in jobs[3 * i : 3 * i + 3])
        assert all(job.status == JobStatus.SUCCEEDED for job in jobs[3 * i : 3 * i + 3]), jobs[
            3 * i : 3 * i + 3
        ]
        assert sharpest is not None
        assert at_30 is not None
        assert board is not None
        stated = seconds * CUT_FPS
        spread = [int((0.1 + 0.8 * k / 4) * stated) for k in range(5)]  # 5 candidates over 10-90 %
        tile_frames = [t * 5 * CUT_FPS for t in range(math.ceil(seconds / 5))]
        wanted = {sharpest["frame"], at_30["frame"], *tile_frames}
        count, frames = _decoded(imaging.media_root / source, wanted)
        assert (count < 20 * CUT_FPS) == source.startswith("long/cut"), (source, count)

        assert sharpest["video"]["frames"] == stated
        assert [c["frame"] for c in sharpest["candidates"]] == [f for f in spread if f < count], sharpest
        assert sharpest["frame"] in frames
        assert sharpest["time_s"] == sharpest["frame"] / CUT_FPS
        thumb = np.asarray(imaging.open(sharpest["path"]).convert("RGB"))
        assert _differs(thumb, frames[sharpest["frame"]][:, :, ::-1]) < 2, (source, sharpest["frame"])

        assert at_30["frame"] == min(30 * CUT_FPS, count - 1), (source, at_30)  # clamped to the last frame
        thumb = np.asarray(imaging.open(at_30["path"]).convert("RGB"))
        assert _differs(thumb, frames[at_30["frame"]][:, :, ::-1]) < 2, (source, at_30["frame"])

        shown = [f for f in tile_frames if f < count]
        assert board["tiles"] == len(shown), (source, board)
        sheet = np.asarray(imaging.open(board["sprites"][0]["path"]).convert("RGB"))
        height = board["tile_height"]
        for t, index in enumerate(shown):
            x, y = (t % 10) * 64, (t // 10) * height
            expected = cv2.resize(frames[index], (64, height), interpolation=cv2.INTER_AREA)[:, :, ::-1]
            assert _differs(sheet[y : y + height, x : x + 64], expected) < 2, (source, t)


async def test_thumbnail_formats_open_with_pillow(imaging: Imaging) -> None:
    """Thumbnails in JPEG, WebP, AVIF and PNG are what their result says they are."""
    formats = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF", "png": "PNG"}
    jobs = await asyncio.gather(
        *(
            imaging.run(
                {"job_type": "thumbnail", "sources": ["clips/sharp.mp4"], "format": f, "sizes": [200, 40]}
            )
            for f in formats
        )
    )
    for (fmt, pillow_name), job in zip(formats.items(), jobs, strict=True):
        assert job.status == JobStatus.SUCCEEDED, job
        assert job.result is not None
        for thumb, size in zip(job.result["thumbnails"], [(200, 150), (40, 30)], strict=True):
            assert thumb["path"].endswith(f".{'jpg' if fmt == 'jpeg' else fmt}")
            image = imaging.open(thumb["path"])
            assert (image.format, image.size) == (pillow_name, size)
            assert thumb["format"] == pillow_name


async def test_thumbnail_of_an_image_source(imaging: Imaging) -> None:
    """An image's thumbnail is upright per its EXIF orientation."""
    job = await imaging.run({"job_type": "thumbnail", "sources": ["images/rotated.jpg"], "sizes": [100]})
    assert job.status == JobStatus.SUCCEEDED, job
    assert job.result is not None
    assert job.result["picked"] == "image"
    thumb = imaging.open(job.result["path"])
    assert thumb.size == (50, 100)  # upright: EXIF orientation 6
    assert _close(mean_colour(thumb, (10, 10, 40, 40)), RED)


# -- resize, optimize ----------------------------------------------------------------------------------


async def test_resize_fit_fill_pad_upright_and_stripped(imaging: Imaging) -> None:
    """fit, fill and pad resize to the right geometry, upright, without metadata by default."""
    specs = [
        {"width": 100, "height": 100, "mode": "fit"},
        {"width": 100, "height": 50, "mode": "fill"},
        {"width": 100, "height": 100, "mode": "pad"},
        {"width": 1000, "height": 1000, "mode": "fit"},
        {"width": 1000, "height": 1000, "mode": "fit", "upscale": True, "name": "big"},
    ]
    job = await imaging.run(
        {"job_type": "image_resize", "sources": ["images/rotated.jpg"], "specs": specs, "format": "png"}
    )
    assert job.status == JobStatus.SUCCEEDED, job
    result = job.result
    assert result is not None
    assert (result["source_width"], result["source_height"], result["orientation"]) == (200, 400, 6)
    sizes = [(o["width"], o["height"]) for o in result["outputs"]]
    assert sizes == [(50, 100), (100, 50), (100, 100), (200, 400), (500, 1000)]
    assert [o["name"] for o in result["outputs"]] == [
        "100x100_fit", "100x50_fill", "100x100_pad", "1000x1000_fit", "big"
    ]  # fmt: skip
    assert result["path"] == result["outputs"][0]["path"]

    fit = imaging.open(result["outputs"][0]["path"])
    # Stored: red left, blue right; orientation 6 turns it 90° clockwise: red on top.
    assert _close(mean_colour(fit, (5, 5, 45, 40)), RED)
    assert _close(mean_colour(fit, (5, 60, 45, 95)), BLUE)
    fill = imaging.open(result["outputs"][1]["path"])
    # The centre crop (rows 150–250 of 400) spans the boundary: red above, blue below.
    assert _close(mean_colour(fill, (0, 0, 100, 20)), RED)
    assert _close(mean_colour(fill, (0, 30, 100, 50)), BLUE)
    pad = np.asarray(imaging.open(result["outputs"][2]["path"]).convert("RGBA"))
    assert tuple(pad[50, 2]) == (0, 0, 0, 0)  # transparent padding left and right for PNG
    assert pad[5, 50, 3] == 255
    for output in result["outputs"]:
        image = imaging.open(output["path"])
        assert image.format == "PNG"
        assert not {"exif", "icc_profile", "xmp"} & set(image.info)
        assert image.getexif().get(ORIENTATION_TAG) is None


async def test_resize_keeps_metadata_when_asked(imaging: Imaging) -> None:
    """strip_metadata=false keeps the colour profile and EXIF (orientation reset) and pads in colour."""
    job = await imaging.run(
        {
            "job_type": "image_resize",
            "sources": ["images/rotated.jpg"],
            "specs": [{"width": 80, "height": 80, "mode": "pad"}],
            "strip_metadata": False,
            "background": "#00ff00",
        }
    )
    assert job.status == JobStatus.SUCCEEDED, job
    assert job.result is not None
    image = imaging.open(job.result["path"])
    assert (image.format, image.size) == ("JPEG", (80, 80))  # format "keep"
    exif = image.getexif()
    assert exif.get(MAKE_TAG) == "TestMake"
    assert exif.get(ORIENTATION_TAG) in (None, 1)  # the pixels are upright now
    with Image.open(imaging.media_root / "images" / "rotated.jpg") as source:
        assert image.info.get("icc_profile") == source.info["icc_profile"]
    assert _close(mean_colour(image, (0, 20, 15, 60)), (0, 255, 0))


async def test_colour_modes_are_converted_for_the_output_format(imaging: Imaging) -> None:
    """CMYK and palette sources are converted to a mode the output format holds."""
    cmyk, palette = await asyncio.gather(
        imaging.run(
            {
                "job_type": "image_resize",
                "sources": ["images/cmyk.jpg"],
                "specs": [{"width": 300, "height": 300}],
                "format": "webp",
            }
        ),
        imaging.run(
            {
                "job_type": "image_resize",
                "sources": ["images/palette.png"],
                "specs": [{"width": 60, "height": 60}],
                "format": "jpeg",
            }
        ),
    )
    assert cmyk.status == JobStatus.SUCCEEDED, cmyk
    assert cmyk.result is not None
    image = imaging.open(cmyk.result["path"])
    assert (image.format, image.mode, image.size) == ("WEBP", "RGB", (300, 200))
    assert palette.status == JobStatus.SUCCEEDED, palette
    assert palette.result is not None
    image = imaging.open(palette.result["path"])
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (60, 40))
    assert _close(mean_colour(image, (2, 2, 25, 38)), (255, 255, 255))  # transparent: flattened on white
    assert _close(mean_colour(image, (35, 2, 58, 38)), (0, 0, 255))


async def test_optimize_reports_bytes_saved(imaging: Imaging) -> None:
    """Optimizing reports bytes before and after, in the same format or another."""
    same, webp = await asyncio.gather(
        imaging.run({"job_type": "image_optimize", "sources": ["images/photo.jpg"], "quality": 70}),
        imaging.run({"job_type": "image_optimize", "sources": ["images/photo.jpg"], "format": "webp"}),
    )
    before = (imaging.media_root / "images" / "photo.jpg").stat().st_size
    for job, fmt in ((same, "JPEG"), (webp, "WEBP")):
        assert job.status == JobStatus.SUCCEEDED, job
        result = job.result
        assert result is not None
        assert result["bytes_before"] == before
        assert result["bytes_after"] == (imaging.media_root / result["path"]).stat().st_size
        assert result["bytes_saved"] == before - result["bytes_after"] > before // 2
        assert result["saved_percent"] > 50
        image = imaging.open(result["path"])
        assert (image.format, image.size) == (fmt, (1600, 1200))
        assert "exif" not in image.info


async def test_optimize_into_a_format_too_narrow_for_the_image_fails_permanently(imaging: Imaging) -> None:
    """An image wider or taller than the output format holds (WebP 16383, AVIF 32768 as libavif reads,
    JPEG 65500 as libjpeg writes) fails at once with a permanent error naming the limit and the formats that
    would hold it; the same image in a format that holds it is written."""
    cases = [
        ("images/wide.png", "webp", "WEBP, which holds at most 16383 pixels a side", "jpeg, avif, png"),
        ("images/tall.png", "avif", "AVIF, which holds at most 32768 pixels a side", "jpeg, png"),
        ("images/very_wide.png", "jpeg", "JPEG, which holds at most 65500 pixels a side", "png"),
    ]
    jobs = await asyncio.gather(
        *(
            imaging.run({"job_type": "image_optimize", "sources": [src], "format": fmt})
            for src, fmt, *_ in cases
        ),
        imaging.run({"job_type": "image_optimize", "sources": ["images/wide.png"], "format": "jpeg"}),
    )
    for (source, _fmt, limit, holding), job in zip(cases, jobs, strict=False):
        message = _failed(job, "OutputTooLarge")
        assert message.startswith(f"{source}: "), message
        assert limit in message, message
        assert f"(formats that hold it: {holding})" in message, message
        assert str(imaging.media_root) not in message
    written = jobs[-1]
    assert written.status == JobStatus.SUCCEEDED, written
    assert written.result is not None
    assert imaging.open(written.result["path"]).size == (20_000, 3)


# -- animations ----------------------------------------------------------------------------------------


@dataclass
class Animated:
    """An output file as read back: format, size, loop count, and each frame (RGB) with its duration."""

    format: str | None
    size: tuple[int, int]
    loop: int | None
    frames: list[tuple[Image.Image, int]]

    @property
    def durations(self) -> list[int]:
        return [duration for _frame, duration in self.frames]


def _read_animation(path: Path) -> Animated:
    with Image.open(path) as image:
        frames = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            image.load()
            frames.append((image.convert("RGB"), round(float(image.info.get("duration") or 0))))
        return Animated(image.format, image.size, image.info.get("loop"), frames)


def _like_source(frames: list[tuple[Image.Image, int]], source_size: tuple[int, int]) -> None:
    """Frame i shows frame i of the test animation (`animation_frame`), scaled to the output's size."""
    for index, (frame, _duration) in enumerate(frames):
        expected = animation_frame(index, source_size).resize(frame.size, Image.Resampling.LANCZOS)
        difference = _differs(np.asarray(frame), np.asarray(expected))
        assert difference < 6, (index, difference)


async def test_animations_keep_every_frame_with_its_duration_and_the_loop_count(imaging: Imaging) -> None:
    """Converted, optimized or resized, an animated GIF, WebP or APNG stays an animation of all its frames,
    each resized, shown as long as in the source, played as often (a GIF's loop count counts repeats, WebP's
    and APNG's plays; a GIF without one plays once); results say how many frames and how long."""
    bodies: list[dict[str, Any]] = [
        {"job_type": "image_optimize", "sources": ["images/anim.gif"], "format": "webp"},
        {"job_type": "image_optimize", "sources": ["images/anim.webp"]},
        {"job_type": "image_optimize", "sources": ["images/anim.gif"]},  # keep: a GIF becomes an APNG
        {"job_type": "image_optimize", "sources": ["images/once.gif"], "format": "webp"},
        {
            "job_type": "image_resize",
            "sources": ["images/anim.webp"],
            "specs": [{"width": 60, "height": 60}, {"width": 50, "height": 50, "mode": "pad", "name": "pad"}],
        },
        {
            "job_type": "image_resize",
            "sources": ["images/anim.png"],
            "specs": [{"width": 60, "height": 60}],
            "format": "avif",
        },
    ]
    gif_webp, webp, gif_png, once, resized, apng_avif = await asyncio.gather(
        *(imaging.run(body) for body in bodies)
    )
    optimized = [
        (gif_webp, "WEBP", GIF_DURATIONS, 0),
        (webp, "WEBP", WEBP_DURATIONS, 2),
        (gif_png, "PNG", GIF_DURATIONS, 0),
        (once, "WEBP", [200, 300], 1),
    ]
    for job, fmt, durations, loop in optimized:
        assert job.status == JobStatus.SUCCEEDED, job
        result = job.result
        assert result is not None
        expected = {"source_frames": len(durations), "frames": len(durations), "loop": loop}
        assert {key: result[key] for key in expected} == expected, result
        assert result["duration_ms"] == sum(durations)
        assert result["bytes_after"] == (imaging.media_root / result["path"]).stat().st_size
        written = _read_animation(imaging.media_root / result["path"])
        assert (written.format, written.size, written.loop) == (fmt, (120, 80), loop)
        assert written.durations == durations
        _like_source(written.frames, (120, 80))

    assert resized.status == JobStatus.SUCCEEDED, resized
    assert resized.result is not None
    assert resized.result["source_frames"] == 10
    for output, size in zip(resized.result["outputs"], [(60, 40), (50, 50)], strict=True):
        assert (output["width"], output["height"], output["frames"], output["loop"]) == (*size, 10, 2)
        written = _read_animation(imaging.media_root / output["path"])
        assert (written.format, written.size, written.loop) == ("WEBP", size, 2)
        assert written.durations == WEBP_DURATIONS
        if size == (60, 40):
            _like_source(written.frames, (120, 80))
            continue
        for index, (frame, _duration) in enumerate(written.frames):  # fitted into 50x33 at y = 8
            scaled = animation_frame(index, (120, 80)).resize((50, 33), Image.Resampling.LANCZOS)
            assert _differs(np.asarray(frame.crop((0, 8, 50, 41))), np.asarray(scaled)) < 8, index
        with Image.open(imaging.media_root / output["path"]) as image:
            assert image.convert("RGBA").getpixel((25, 2)) == (0, 0, 0, 0)  # transparent above

    assert apng_avif.status == JobStatus.SUCCEEDED, apng_avif
    assert apng_avif.result is not None
    output = apng_avif.result["outputs"][0]
    assert (output["frames"], output["duration_ms"], output["loop"]) == (6, sum(APNG_DURATIONS), None)
    written = _read_animation(imaging.media_root / output["path"])
    assert (written.format, written.size, written.durations) == ("AVIF", (60, 40), APNG_DURATIONS)
    for index, (frame, _duration) in enumerate(written.frames):  # lossier AVIF: the colour beside the bar
        assert _close(mean_colour(frame, (45, 5, 58, 35)), COLOURS[index], 25), index


async def test_animations_are_turned_upright_per_their_exif_orientation(imaging: Imaging) -> None:
    """Every frame of an animated WebP with EXIF orientation 6 is turned upright; the EXIF kept says nothing
    more about turning it (its other tags stay)."""
    job = await imaging.run(
        {
            "job_type": "image_resize",
            "sources": ["images/rotated_anim.webp"],
            "specs": [{"width": 100, "height": 100}],
            "strip_metadata": False,
        }
    )
    assert job.status == JobStatus.SUCCEEDED, job
    assert job.result is not None
    result = job.result
    assert (result["source_width"], result["source_height"], result["orientation"]) == (80, 120, 6)
    assert (result["outputs"][0]["width"], result["outputs"][0]["height"]) == (67, 100)
    written = _read_animation(imaging.media_root / result["path"])
    assert (written.size, len(written.frames)) == ((67, 100), 3)
    for index, (frame, _duration) in enumerate(written.frames):  # the bar (stored at x = 8i) is now a row
        expected = animation_frame(index, (120, 80)).transpose(Image.Transpose.ROTATE_270)
        expected = expected.resize((67, 100), Image.Resampling.LANCZOS)
        assert _differs(np.asarray(frame), np.asarray(expected)) < 6, index
    with Image.open(imaging.media_root / result["path"]) as image:
        exif = image.getexif()
        assert (exif.get(ORIENTATION_TAG), exif.get(MAKE_TAG)) == (None, "TestMake")


async def test_animations_into_jpeg_are_refused_and_thumbnails_take_the_first_frame(imaging: Imaging) -> None:
    """JPEG holds one frame: converting or resizing an animation into it fails permanently, saying what keeps
    the animation and where its first frame comes from; a thumbnail of an animation is its first frame, and
    says so."""
    gif, webp, thumb = await asyncio.gather(
        imaging.run({"job_type": "image_optimize", "sources": ["images/anim.gif"], "format": "jpeg"}),
        imaging.run(
            {
                "job_type": "image_resize",
                "sources": ["images/anim.webp"],
                "specs": [{"width": 60, "height": 60}],
                "format": "jpeg",
            }
        ),
        imaging.run({"job_type": "thumbnail", "sources": ["images/anim.gif"], "sizes": [60]}),
    )
    for job, source, fmt in ((gif, "images/anim.gif", "GIF"), (webp, "images/anim.webp", "WEBP")):
        message = _failed(job, "AnimationNotSupported")
        assert message == (
            f"{source}: an animated {fmt} cannot be written as JPEG, which holds a single frame; ask for "
            "webp, png (APNG) or avif to keep the animation, or a thumbnail job for its first frame"
        )
        assert not (imaging.media_root / job.task_id).exists()
    assert thumb.status == JobStatus.SUCCEEDED, thumb
    assert thumb.result is not None
    assert (thumb.result["picked"], thumb.result["animated"], thumb.result["frame"]) == ("image", True, 0)
    image = imaging.open(thumb.result["path"])
    assert (image.format, image.size) == ("JPEG", (60, 40))
    assert _close(mean_colour(image, (20, 5, 55, 35)), COLOURS[0])


async def test_animations_past_the_pixel_limit_or_the_frame_cap_are_refused(imaging: Imaging) -> None:
    """All the frames of an animation count against IMAGING_MAX_PIXELS: 20 frames on a 3000x3000 canvas
    (180 MP decoded, from a 1 kB file) are refused before the first is decoded, and so is an animation of
    more than 10000 frames, however small; a thumbnail of either decodes only the first frame."""
    bodies: list[dict[str, Any]] = [
        {"job_type": "image_optimize", "sources": ["images/frames_bomb.gif"], "format": "webp"},
        {"job_type": "image_resize", "sources": ["images/endless.gif"], "specs": [{"width": 4, "height": 4}]},
        {"job_type": "thumbnail", "sources": ["images/frames_bomb.gif"], "sizes": [32]},
        {"job_type": "thumbnail", "sources": ["images/endless.gif"], "sizes": [32]},
    ]
    bomb, endless, *thumbs = await asyncio.gather(*(imaging.run(body) for body in bodies))
    assert _failed(bomb, "ImageTooLarge") == (
        "images/frames_bomb.gif: at least 10 frames of 3000x3000 are 90000000 pixels, more than the limit of "
        "89478485 pixels (set by IMAGING_MAX_PIXELS); a thumbnail job takes its first frame"
    )
    assert _failed(endless, "ImageTooLarge") == (
        "images/endless.gif: an animation of at least 10001 frames; at most 10000 frames are converted "
        "(a thumbnail job takes its first frame)"
    )
    for job in thumbs:
        assert job.status == JobStatus.SUCCEEDED, job
        assert job.result is not None
        assert job.result["animated"] is True


def test_frames_that_grow_the_canvas_count_against_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GIF frame drawn past its canvas makes Pillow decode that frame and every later one on a larger
    canvas: the pixels decoded count against the limit as the frames are read (outputs keep the canvas), and
    an animated WebP's declared frames against it before any is."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)
    three = write_gif_of_tiny_frames(tmp_path / "three.gif", (4, 4), 3, later_at=(100, 100))  # 102x102
    two = write_gif_of_tiny_frames(tmp_path / "two.gif", (4, 4), 2, later_at=(100, 100))

    def frames_of(path: Path) -> list[tuple[int, int]]:
        decoded = open_image(path, sniff(path), path.name, animation_to="webp")
        assert decoded.animation is not None
        try:
            return [frame.image.size for frame in decoded.animation.each(CancelToken())]
        finally:
            decoded.animation.close()

    assert frames_of(two) == [(4, 4), (4, 4)]  # 16 + 10404 pixels decoded
    with pytest.raises(BadMedia, match=r"^three.gif: its first 3 frames decode to 20824 pixels, more than"):
        frames_of(three)
    webp = write_animation(tmp_path / "anim.webp", "WEBP", [100] * 3, size=(100, 100))
    with pytest.raises(BadMedia) as refused:
        frames_of(webp)
    assert str(refused.value).startswith(
        "anim.webp: 3 frames of 100x100 are 30000 pixels, more than the limit of 20000 pixels"
    )
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)  # one frame of 102x102 is past it
    with pytest.raises(BadMedia, match=r"^two.gif: frame 1 grows the 4x4 canvas to too many pixels, more"):
        frames_of(two)


def test_animated_resizes_are_refused_past_the_output_budget_before_any_frame(tmp_path: Path) -> None:
    """Every output frame of an animated resize is held until it is encoded: 45 frames of 100x100 fit into
    1000x1000 with upscale (45 million pixels, within the per-job cap) are refused before a frame is
    resampled, naming the numbers and what to ask for instead; the same animation at 300x300 is written."""
    gif = write_animation(tmp_path / "long.gif", "GIF", [100] * 45, size=(100, 100))

    def resized(side: int) -> list[tuple[int, int]]:
        scratch = tmp_path / f"out{side}"
        scratch.mkdir()
        work = Work(source="long.gif", path=str(gif), scratch=str(scratch), rel_dir="")
        spec = ResizeSpec(width=side, height=side, upscale=True)
        result = resize.render(work, ImageResizeRequest(sources=["long.gif"], specs=[spec], format="png"))
        return [(out.width, out.height) for out in result.outputs]

    with pytest.raises(BadMedia) as refused:
        resized(1000)
    assert refused.value.error_type == "OutputTooLarge"
    assert str(refused.value) == (
        "long.gif: 45 frames at 1000x1000 would be 45000000 output pixels; an animated resize writes at most "
        "40000000 pixels over all its frames and outputs (ask for smaller specs, at most 888888 pixels per "
        "frame in all, or a thumbnail job for its first frame)"
    )
    assert resized(300) == [(300, 300)]


def test_animation_durations_are_clamped_to_what_each_encoder_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An APNG frame is at most 65535 ms (Pillow: ``cannot write duration`` past what a 16-bit delay holds),
    an animated WebP at most 2^31-1 ms in all (libwebp's 32-bit timestamps: OverflowError); what an encoder
    still refuses is permanent bad media, not a retryable ValueError or OverflowError."""
    frames = [animation_frame(i, (8, 8)) for i in range(3)]
    apng = save_animation(
        frames, [7_340_052, 100, 65_535], 0, tmp_path / "long.png", "png", label="long.gif", quality=80
    )
    assert (apng.frames, apng.duration_ms) == (3, 65_535 + 100 + 65_535)
    assert _read_animation(tmp_path / "long.png").durations == [65_535, 100, 65_535]

    many = [animation_frame(i, (4, 4)) for i in range(4000)]
    webp = save_animation(
        many, [655_350] * 4000, 0, tmp_path / "long.webp", "webp", label="x.gif", quality=80
    )
    assert webp.duration_ms <= 2**31 - 1
    assert webp.duration_ms > 2**31 - 1 - 4000

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OverflowError("signed integer is greater than maximum")

    monkeypatch.setattr(Image.Image, "save", refuse)
    with pytest.raises(BadMedia) as refused:
        save_animation(frames, [100] * 3, 0, tmp_path / "x.webp", "webp", label="x.gif", quality=80)
    assert refused.value.error_type == "CorruptMedia"
    assert str(refused.value) == (
        "x.gif: the animation cannot be written as WEBP "
        "(OverflowError: signed integer is greater than maximum)"
    )


# -- bad inputs ----------------------------------------------------------------------------------------


async def test_bad_inputs_fail_permanently_with_one_line(imaging: Imaging) -> None:
    """Corrupt, truncated, oversized, disguised or wrong-kind inputs fail permanently in one line."""
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"job_type": "image_resize", "sources": ["images/corrupt.jpg"]}, "CorruptMedia", "corrupt.jpg"),
        ({"job_type": "image_optimize", "sources": ["images/truncated.jpg"]}, "CorruptMedia", "truncated"),
        ({"job_type": "image_resize", "sources": ["images/bomb.png"]}, "ImageTooLarge", "900000000 pixels"),
        ({"job_type": "image_optimize", "sources": ["images/bomb_warning.png"]}, "ImageTooLarge", "89478485"),
        ({"job_type": "thumbnail", "sources": ["clips/playlist.mp4"]}, "UnsupportedMedia", "playlist: hls"),
        (
            {"job_type": "storyboard", "sources": ["clips/playlist.mp4"]},
            "UnsupportedMedia",
            "not a supported",
        ),
        ({"job_type": "image_resize", "sources": ["clips/sharp.mp4"]}, "WrongMediaKind", "expected image"),
        ({"job_type": "storyboard", "sources": ["images/photo.jpg"]}, "WrongMediaKind", "expected video"),
        ({"job_type": "thumbnail", "sources": ["images/escape.jpg"]}, "SourceError", "outside MEDIA_ROOT"),
        ({"job_type": "thumbnail", "sources": ["images/missing.jpg"]}, "SourceError", "does not exist"),
    ]
    for body, _type, _text in cases:
        if body["job_type"] in ("image_resize",):
            body.setdefault("specs", [{"width": 50, "height": 50}])
    jobs = await asyncio.gather(*(imaging.run(body) for body, _t, _x in cases))
    for (body, error_type, text), job in zip(cases, jobs, strict=True):
        message = _failed(job, error_type)
        assert text in message, (body, message)
        assert not (imaging.media_root / job.task_id).exists()


async def test_too_large_images_name_their_size_and_the_configured_limit(imaging: Imaging) -> None:
    """Past the decompression-bomb limit (IMAGING_MAX_PIXELS, 89478485 by default) the error names the image's
    size, that limit and the setting that raises it, also past twice the limit, where Pillow's own message
    names twice the limit."""
    sources = {"images/bomb.png": (30_000, 30_000), "images/bomb_warning.png": (10_000, 10_000)}
    jobs = await asyncio.gather(
        *(imaging.run({"job_type": "image_optimize", "sources": [source]}) for source in sources)
    )
    for (source, (width, height)), job in zip(sources.items(), jobs, strict=True):
        message = _failed(job, "ImageTooLarge")
        assert message == (
            f"{source}: {width}x{height} is {width * height} pixels, more than the limit of 89478485 pixels "
            "(set by IMAGING_MAX_PIXELS)"
        )


async def test_a_108_mp_jpeg_is_thumbnailed_from_a_reduced_decode(imaging: Imaging) -> None:
    """A 12000x9000 JPEG (108 MP, past the 89.5 MP limit) is thumbnailed and resized to smaller outputs from
    a 1/2–1/8 scale decode; what needs more of it (its full size for image_optimize, a 7000 px resize) fails
    naming the setting and what can still be made; a JPEG declaring 400 MP is refused before any decode (its
    data would fail as truncated)."""
    phone = "images/phone_108mp.jpg"
    thumb, resized, optimized, too_big, bomb = await asyncio.gather(
        imaging.run({"job_type": "thumbnail", "sources": [phone], "sizes": [320, 64]}),
        imaging.run(
            {"job_type": "image_resize", "sources": [phone], "specs": [{"width": 2000, "height": 2000}]}
        ),
        imaging.run({"job_type": "image_optimize", "sources": [phone]}),
        imaging.run(
            {"job_type": "image_resize", "sources": [phone], "specs": [{"width": 7000, "height": 7000}]}
        ),
        imaging.run({"job_type": "thumbnail", "sources": ["images/bomb_400mp.jpg"]}),
    )
    assert thumb.status == JobStatus.SUCCEEDED, thumb
    assert thumb.result is not None
    assert [(t["width"], t["height"]) for t in thumb.result["thumbnails"]] == [(320, 240), (64, 48)]
    image = imaging.open(thumb.result["path"])
    assert _close(mean_colour(image, (10, 10, 150, 230)), RED)
    assert _close(mean_colour(image, (170, 10, 310, 230)), BLUE)
    assert resized.status == JobStatus.SUCCEEDED, resized
    assert resized.result is not None
    assert (resized.result["source_width"], resized.result["source_height"]) == (12_000, 9_000)
    assert imaging.open(resized.result["path"]).size == (2000, 1500)

    full = f"{phone}: 12000x9000 is 108000000 pixels, more than the limit of 89478485 pixels"
    advice = "as a JPEG it can still be thumbnailed or resized to at most 6000x4500 (decoded at 1/2 scale)"
    for job in (optimized, too_big):
        message = _failed(job, "ImageTooLarge")
        assert message == f"{full} (set by IMAGING_MAX_PIXELS); {advice}", message
    message = _failed(bomb, "ImageTooLarge")
    assert message == (
        "images/bomb_400mp.jpg: 20000x20000 is 400000000 pixels, more than the limit of 89478485 pixels "
        "(set by IMAGING_MAX_PIXELS)"
    )


def test_the_pixel_limit_is_set_by_the_variable_its_errors_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """ImageTooLarge messages say "set by IMAGING_MAX_PIXELS": that is the variable the service reads, and
    the README's configuration table lists it."""
    monkeypatch.setenv("IMAGING_MAX_PIXELS", "1234")
    assert ImagingSettings().imaging_max_pixels == 1234
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "\n| `IMAGING_MAX_PIXELS` | 89478485 |" in readme


def test_jpegs_past_the_limit_decode_reduced_only_within_four_times_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a limit of 1 MP: a 2.4 MP JPEG (past twice the limit, where Pillow raises rather than warns) is
    decoded at 1/4 scale for a 320 px thumbnail, and refused at full size; a 4.1 MP JPEG and a 1.1 MP PNG are
    refused even for a thumbnail, before their pixels are decoded."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    wide = tmp_path / "wide.jpg"
    halves((2400, 1000), RED, BLUE).save(wide, quality=90)
    thumb = functools.partial(bounding, longest=320)

    decoded = open_image(wide, sniff(wide), "wide.jpg", needed=thumb)
    assert (decoded.size, decoded.image.size) == ((2400, 1000), (600, 250))
    assert _close(mean_colour(decoded.image, (10, 10, 290, 240)), RED)
    decoded.image.close()
    with pytest.raises(BadMedia) as full:
        open_image(wide, sniff(wide), "wide.jpg")
    assert full.value.error_type == "ImageTooLarge"
    assert str(full.value) == (
        "wide.jpg: 2400x1000 is 2400000 pixels, more than the limit of 1000000 pixels (set by "
        "IMAGING_MAX_PIXELS); as a JPEG it can still be thumbnailed or resized to at most 1200x500 "
        "(decoded at 1/2 scale)"
    )

    huge = tmp_path / "huge.jpg"
    halves((4100, 1000), RED, BLUE).save(huge, quality=50)
    png = tmp_path / "big.png"
    Image.new("L", (1100, 1000)).save(png)
    for path, shape in ((huge, "4100x1000 is 4100000"), (png, "1100x1000 is 1100000")):
        with pytest.raises(BadMedia) as refused:
            open_image(path, sniff(path), path.name, needed=thumb)
        assert str(refused.value) == (
            f"{path.name}: {shape} pixels, more than the limit of 1000000 pixels (set by IMAGING_MAX_PIXELS)"
        )


def test_progressive_jpegs_past_the_limit_are_not_decoded_reduced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libjpeg holds a progressive JPEG's coefficients at full size whatever the draft scale: past the limit
    it is refused even for a thumbnail, like any other image past it (no advice of a reduced decode)."""
    wide = tmp_path / "progressive.jpg"
    halves((2400, 1000), RED, BLUE).save(wide, quality=90, progressive=True)
    with Image.open(wide) as opened:
        assert opened.info.get("progressive")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    for needed in (functools.partial(bounding, longest=320), None):
        with pytest.raises(BadMedia) as refused:
            open_image(wide, sniff(wide), "progressive.jpg", needed=needed)
        assert refused.value.error_type == "ImageTooLarge"
        assert str(refused.value) == (
            "progressive.jpg: 2400x1000 is 2400000 pixels, more than the limit of 1000000 pixels (set by "
            "IMAGING_MAX_PIXELS)"
        )


def test_a_webp_declaring_too_many_pixels_is_too_large(tmp_path: Path) -> None:
    """Pillow's WebP plugin raises its own DecompressionBombError for the canvas its header declares (here
    40x10400000 in a file of a few bytes): refused as ImageTooLarge, naming that size."""
    bomb = write_webp_declaring(tmp_path / "bomb.webp", 40, 10_400_000)
    assert bomb.stat().st_size < 1024
    with pytest.raises(BadMedia) as refused:
        open_image(bomb, sniff(bomb), "bomb.webp", needed=functools.partial(bounding, longest=320))
    assert refused.value.error_type == "ImageTooLarge"
    assert str(refused.value) == (
        "bomb.webp: 40x10400000 is 416000000 pixels, more than the limit of 89478485 pixels (set by "
        "IMAGING_MAX_PIXELS)"
    )


async def test_paths_escaping_media_root_are_refused_at_submission(imaging: Imaging) -> None:
    """Sources outside MEDIA_ROOT are refused at submission."""
    for source in ("../outside/secret.jpg", "/etc/passwd", "images/../../x.jpg"):
        with pytest.raises(ValidationError, match="MEDIA_ROOT"):
            await imaging.client.submit({"job_type": "thumbnail", "sources": [source]})


# -- storyboard ----------------------------------------------------------------------------------------

CUE = re.compile(
    r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(\S+?)#xywh=(\d+),(\d+),(\d+),(\d+)"
)


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


async def test_storyboard_vtt_maps_times_to_tiles(imaging: Imaging) -> None:
    """A storyboard's WebVTT maps each interval to the right tile of the right sheet."""
    job = await imaging.run(
        {
            "job_type": "storyboard",
            "sources": ["clips/colours.mp4"],
            "interval_s": 1.5,
            "tile_width": 64,
            "columns": 2,
            "max_rows": 2,
            "format": "png",
        }
    )
    assert job.status == JobStatus.SUCCEEDED, job
    assert job.progress.message == "processing clips/colours.mp4"  # one source: said while it ran
    result = job.result
    assert result is not None
    assert result["path"] == result["vtt"] == f"{job.task_id}/storyboard.vtt"
    assert (result["tiles"], result["tile_width"], result["tile_height"]) == (6, 64, 48)
    vtt = (imaging.media_root / result["vtt"]).read_text()
    assert vtt.startswith("WEBVTT\n\n")
    cues = CUE.findall(vtt)
    assert len(cues) == 6
    sprites = {Path(s["path"]).name: s for s in result["sprites"]}
    assert list(sprites) == ["storyboard_000.png", "storyboard_001.png"]  # 4 tiles per sheet
    assert [(s["width"], s["height"]) for s in sprites.values()] == [(128, 96), (128, 48)]
    previous_end = 0.0
    for i, cue in enumerate(cues):
        start, end = _seconds(*cue[0:4]), _seconds(*cue[4:8])
        assert start == pytest.approx(previous_end) == pytest.approx(i * 1.5)
        assert end == pytest.approx(min((i + 1) * 1.5, 8.0))
        previous_end = end
        sheet, (x, y, w, h) = cue[8], (int(v) for v in cue[9:13])
        assert sheet == f"storyboard_00{i // 4}.png"
        sprite = sprites[sheet]
        assert (w, h) == (64, 48)
        assert x + w <= sprite["width"]
        assert y + h <= sprite["height"]
        assert (x, y) == ((i % 2) * 64, ((i % 4) // 2) * 48)
        tile = imaging.open(sprite["path"]).crop((x, y, x + w, y + h))
        expected = COLOURS[math.floor(i * 1.5 + 1e-9)]
        assert _close(mean_colour(tile, (20, 12, 60, 44)), expected), (i, mean_colour(tile))


# -- bulk and cancel -----------------------------------------------------------------------------------


async def test_bulk_thumbnails_with_one_failing_source(imaging: Imaging) -> None:
    """A bulk job with one bad source succeeds; every source's outcome is an item record."""
    sources = [f"bulk/v{i}.mp4" for i in range(9)]
    sources.insert(4, "bulk/broken.mp4")
    job = await imaging.run({"job_type": "thumbnail", "sources": sources, "sizes": [80], "concurrency": 3})
    assert job.status == JobStatus.SUCCEEDED, job
    result = job.result
    assert result is not None
    assert (result["total"], result["succeeded"], result["failed"]) == (10, 9, 1)
    assert result["output_dir"] == job.task_id
    assert [(f["index"], f["item"], f["type"]) for f in result["failures"]] == [
        (4, "bulk/broken.mp4", "UnsupportedMedia")
    ]
    progress = job.progress
    assert (progress.items_total, progress.items_done, progress.items_failed) == (10, 10, 1)
    assert progress.percent == 100.0
    items = await imaging.client.store.items(job.task_id, 0, 11)
    assert items[10] is None
    for index, (source, item) in enumerate(zip(sources, items[:10], strict=True)):
        assert item is not None
        assert (item["index"], item["item"]) == (index, source)
        if index == 4:
            assert (item["status"], item["error"]["type"]) == ("failed", "UnsupportedMedia")
            continue
        assert item["status"] == "succeeded"
        path = item["result"]["path"]
        assert path == f"{job.task_id}/{index:04d}/thumb_80.jpg"
        assert imaging.open(path).size == (80, 60)


async def test_all_sources_failing_fails_the_bulk_job(imaging: Imaging) -> None:
    """A bulk job whose every source failed fails as AllItemsFailed."""
    job = await imaging.run({"job_type": "thumbnail", "sources": ["bulk/broken.mp4", "clips/playlist.mp4"]})
    message = _failed(job, "AllItemsFailed")
    assert message.startswith("all 2 sources failed")


async def test_cancel_of_a_long_bulk_job_stops_within_a_second(imaging: Imaging) -> None:
    """Cancelling a long bulk job ends it within a second, removes its files and frees the pool."""
    sources = ["long/noisy.mp4"] * 200
    body = {"job_type": "thumbnail", "sources": sources, "candidates": 30, "concurrency": 2, "sizes": [1024]}
    job = (await imaging.client.submit(body)).job
    deadline = time.monotonic() + 30
    while ((await imaging.client.get(job.task_id)).progress.items_done or 0) < 2:
        assert time.monotonic() < deadline, imaging.proc.output()
        await asyncio.sleep(0.05)
    started = time.monotonic()
    await imaging.client.cancel(job.task_id)
    final = await imaging.client.wait(job.task_id, timeout=5)
    elapsed = time.monotonic() - started
    assert final.status == JobStatus.CANCELLED, final
    assert elapsed < 1.0, elapsed
    assert (final.progress.items_done or 0) < 20
    assert not (imaging.media_root / job.task_id).exists()
    assert not (imaging.media_root / ".tmp" / job.task_id).exists()
    # The pool is free again at once: the abandoned work stopped at its cancel flag.
    quick_started = time.monotonic()
    quick = await imaging.run(
        {"job_type": "thumbnail", "sources": ["bulk/v0.mp4"], "sizes": [32]}, timeout=10
    )
    assert quick.status == JobStatus.SUCCEEDED, quick
    assert time.monotonic() - quick_started < 2.0


async def test_a_run_stopped_by_its_time_limit_leaves_the_next_attempt_a_real_run(imaging: Imaging) -> None:
    """The run stopped at its soft time limit sets its cancel flag in the job's temp dir, which the next
    attempt keeps: that flag is the stopped run's alone, so the retry works as long as the first did (and
    times out the same way) instead of stopping at once; no message names a host path."""
    body = {
        "job_type": "thumbnail",
        "sources": ["long/noisy.mp4"] * 200,
        "candidates": 30,
        "concurrency": 2,
        "sizes": [1024],
        "time_limit": {"soft_limit_s": 1.0},
        "retry": {"max_attempts": 2, "backoff_base_s": 0.1, "backoff_cap_s": 0.1},
    }
    job = await imaging.run(body, timeout=60)
    assert job.status == JobStatus.FAILED, job
    assert [error.type for error in job.errors] == ["TimeLimitExceeded", "TimeLimitExceeded"], job.errors
    runs = [entry.run_s for entry in job.attempt_log]
    assert all(run is not None and run >= 0.9 for run in runs), runs
    assert not any(str(imaging.media_root) in error.message for error in job.errors)
