"""Thumbnail throughput: the imaging service's code path beside a plain Pillow draft-mode loop, same images.

    uv run python -m bench.thumbnails -- --images 20 --size 3000x2000 --rounds 3

The baseline is the least a JPEG thumbnailer does: `Image.open`, `draft("RGB", size)` for the thumbnail's
size (the JPEG decoder scales by 1/2..1/8 while decoding), a Lanczos resize to it, save as JPEG q85: the same
decode scale and filter the service uses, so the ratio prices only what the service adds. The service path is
`imaging.thumbnail.render`, what each source of a `thumbnail` job runs in a pool process: sniff the magic
bytes, open restricted to the sniffed format with the decompression-bomb guard, draft mode, EXIF orientation,
colour-mode handling, Lanczos resampling, encode, result model. Both run one image at a time in this
process, so their ratio is the price of those checks. Then the same images through the CPU pool (all
workers, as a bulk job runs them) and, unless `--no-service`, as one bulk job through Redis and a real
imaging process (clock started when the job starts running, so process start-up is excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from redis.asyncio import Redis

from imaging import thumbnail
from imaging.pool import CpuPool
from imaging.settings import ImagingSettings
from imaging.work import CancelToken, Work
from imaging.worker import configure_libraries
from jobcommon import CommonSettings, JobClient, JobStatus
from jobcommon.requests.imaging import ThumbnailRequest
from tools.localredis import LocalRedis
from tools.procs import ServiceProcess

SIZE = 320
QUALITY = 85


def make_images(directory: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """Photo-like JPEGs (smooth gradients plus noise), q90, each a little different."""
    directory.mkdir(parents=True, exist_ok=True)
    width, height = size
    rng = np.random.default_rng(42)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for i in range(count):
        r = 128 + 100 * np.sin(x / (90.0 + i) + i)
        g = 128 + 100 * np.cos(y / (70.0 + i) + i)
        b = 128 + 60 * np.sin((x + y) / 53.0)
        pixels = np.dstack([r, g, b]) + rng.normal(0, 10, (height, width, 3)).astype(np.float32)
        path = directory / f"photo_{i:03d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(path, quality=90)
        paths.append(path)
    return paths


def plain_pillow(paths: list[Path], out: Path) -> float:
    """Thumbnails per second of the bare draft-mode loop."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            scale = SIZE / max(image.size)
            size = (round(image.width * scale), round(image.height * scale))
            image.draft("RGB", size)
            thumb = image.resize(size, Image.Resampling.LANCZOS)
            thumb.save(out / path.name, "JPEG", quality=QUALITY)
    return len(paths) / (time.perf_counter() - started)


def _work(path: Path, scratch: Path) -> Work:
    scratch.mkdir(parents=True, exist_ok=True)
    return Work(source=path.name, path=str(path), scratch=str(scratch), rel_dir=scratch.name)


def service_path(paths: list[Path], out: Path, request: ThumbnailRequest) -> float:
    """Thumbnails per second of `imaging.thumbnail.render`, one image at a time in this process."""
    works = [_work(path, out / path.stem) for path in paths]
    started = time.perf_counter()
    for work in works:
        thumbnail.render(work, request)
    return len(paths) / (time.perf_counter() - started)


async def service_pool(paths: list[Path], out: Path, request: ThumbnailRequest, workers: int) -> float:
    """Thumbnails per second through the CPU pool, every worker busy (as a bulk job runs them)."""
    pool = CpuPool(workers, ImagingSettings().imaging_max_pixels)
    pool.start()
    token = CancelToken()
    first = paths[:workers]  # one image per worker first: every process warm before the clock starts
    await asyncio.gather(
        *(pool.run(thumbnail.render, _work(p, out / "warm" / p.stem), request, token=token) for p in first)
    )
    works = [_work(path, out / path.stem) for path in paths]
    started = time.perf_counter()
    await asyncio.gather(*(pool.run(thumbnail.render, work, request, token=token) for work in works))
    elapsed = time.perf_counter() - started
    await pool.close()
    return len(paths) / elapsed


async def service_job(url: str, media_root: Path, sources: list[str], workers: int) -> float:
    """Thumbnails per second of one bulk `thumbnail` job through Redis and an imaging process."""
    redis = Redis.from_url(url)
    await redis.flushdb()
    env = {
        "REDIS_URL": url,
        "MEDIA_ROOT": str(media_root),
        "IMAGING_WORKERS": str(workers),
        "LOG_LEVEL": "WARNING",
    }
    service = ServiceProcess("imaging", env)
    service.start()
    try:
        async with JobClient(CommonSettings(redis_url=url, media_root=media_root)) as client:
            # A first small job, so the service's pool processes are up before the clock starts.
            warm = {"job_type": "thumbnail", "sources": sources[:workers], "sizes": [SIZE]}
            await client.wait((await client.submit(warm)).job.task_id, timeout=120)
            body = {"job_type": "thumbnail", "sources": sources, "sizes": [SIZE], "concurrency": workers * 2}
            job = (await client.submit(body)).job
            while (await client.get(job.task_id)).status == JobStatus.QUEUED:
                await asyncio.sleep(0.002)
            started = time.perf_counter()
            final = await client.wait(job.task_id, timeout=600)
            elapsed = time.perf_counter() - started
            if final.status != JobStatus.SUCCEEDED or final.result is None or final.result["failed"]:
                raise RuntimeError(f"bench job did not succeed: {final}\n{service.output()}")
    finally:
        service.stop()
        await redis.flushdb()
        await redis.aclose()
    return len(sources) / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size", default="3000x2000", help="WIDTHxHEIGHT of the source JPEGs")
    parser.add_argument("--rounds", type=int, default=3, help="in-process passes; the median counts")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="CPU pool processes")
    parser.add_argument("--no-service", action="store_true", help="skip the end-to-end job")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    configure_libraries(ImagingSettings().imaging_max_pixels)
    # render() reads only the options; a request names at least one source (any will do here)
    request = ThumbnailRequest(sources=["photos/0.jpg"], sizes=[SIZE], quality=QUALITY)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        media = root / "media"
        paths = make_images(media / "photos", args.images, (width, height))
        plain, service = [], []
        for round_ in range(args.rounds):
            plain.append(plain_pillow(paths, root / f"plain{round_}"))
            service.append(service_path(paths, root / f"service{round_}", request))
        pooled = await service_pool(paths, root / "pool", request, args.workers)
        job = None
        if not args.no_service:
            server = None
            url = os.environ.get("REDIS_URL")
            if url is None:
                server = LocalRedis(root / "redis")
                url = server.start()
            try:
                sources = [str(p.relative_to(media)) for p in paths]
                job = await service_job(url, media, sources, args.workers)
            finally:
                if server is not None:
                    server.stop()
    plain_rate, service_rate = statistics.median(plain), statistics.median(service)
    print(
        f"{args.images} JPEGs {width}x{height} -> {SIZE} px JPEG q{QUALITY}; in-process rates: median of "
        f"{args.rounds} interleaved rounds; same run; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'':46}{'thumbs/s':>10}")
    print(f"{'plain Pillow draft loop (1 process)':46}{plain_rate:>10.1f}")
    print(f"{'imaging thumbnail path (1 process)':46}{service_rate:>10.1f}")
    print(f"{'ratio imaging / plain':46}{service_rate / plain_rate:>10.2f}")
    print(f"{f'imaging CPU pool ({args.workers} processes)':46}{pooled:>10.1f}")
    if job is not None:
        print(f"{f'imaging bulk job (Redis + service, {args.workers} proc)':46}{job:>10.1f}")


if __name__ == "__main__":
    asyncio.run(main())
