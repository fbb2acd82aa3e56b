"""Echo-job throughput: mediajobs (JobClient -> stream -> janitor process) vs a bare redis-py loop.

    uv run task bench -- --jobs 2000 --concurrency 16

Both sides use the same Redis. The baseline is the floor any Redis-streams queue pays: XADD every message
(pipelined), then one consumer doing XREADGROUP COUNT 100 and one XACK per message. mediajobs does much
more per job (a validated record, atomic transitions, progress/state announcements, tracing, TTLs, XDEL), so
the ratio is the price of those guarantees. Submission and processing are timed separately.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from bench.redis_server import bench_redis
from jobcommon import QUEUES, CommonSettings, EchoRequest, JobClient, Queue
from tools.procs import ServiceProcess

BASELINE_STREAM = "bench:baseline"


async def baseline(url: str, n: int) -> tuple[float, float]:
    redis = Redis.from_url(url)
    await redis.delete(BASELINE_STREAM)
    await redis.xgroup_create(BASELINE_STREAM, "g", id="0", mkstream=True)
    started = time.perf_counter()
    for chunk in range(0, n, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(chunk, min(n, chunk + 1000)):
                pipe.xadd(BASELINE_STREAM, {"i": i})
            await pipe.execute()
    submitted = time.perf_counter()
    done = 0
    while done < n:
        reply: list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] = await redis.xreadgroup(
            "g", "c", {BASELINE_STREAM: ">"}, count=100, block=1000
        )  # type: ignore[assignment]
        for _stream, entries in reply:
            for entry_id, _fields in entries:
                await redis.xack(BASELINE_STREAM, "g", entry_id)
                done += 1
    finished = time.perf_counter()
    await redis.delete(BASELINE_STREAM)
    await redis.aclose()
    return n / (submitted - started), n / (finished - submitted)


async def mediajobs(url: str, n: int, concurrency: int, media_root: Path) -> tuple[float, float]:
    settings = CommonSettings(redis_url=url, media_root=media_root)
    spec = QUEUES[Queue.DEFAULT]
    async with JobClient(settings) as client:
        started = time.perf_counter()
        sem = asyncio.Semaphore(64)

        async def submit_one() -> None:
            async with sem:
                await client.submit(EchoRequest())

        await asyncio.gather(*(submit_one() for _ in range(n)))
        submitted = time.perf_counter()
        janitor = ServiceProcess(
            "janitor",
            {
                "REDIS_URL": url,
                "MEDIA_ROOT": str(media_root),
                "CONCURRENCY": str(concurrency),
                "LOG_LEVEL": "WARNING",
            },
        )
        janitor.start()
        try:
            # The clock starts when the service has taken its first job (process start-up excluded).
            while await client.redis.xlen(spec.stream) == n:
                await asyncio.sleep(0.005)
            first = time.perf_counter()
            while await client.redis.xlen(spec.stream) > 0:
                await asyncio.sleep(0.01)
            finished = time.perf_counter()
        finally:
            janitor.stop()
    return n / (submitted - started), n / (finished - first)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_redis(Path(tmp)) as url:
        fresh = Redis.from_url(url)
        await fresh.flushdb()
        await fresh.aclose()
        base_submit, base_process = await baseline(url, args.jobs)
        mj_submit, mj_process = await mediajobs(url, args.jobs, args.concurrency, Path(tmp) / "media")
    print(f"{args.jobs} jobs, janitor concurrency {args.concurrency}, one Redis, same run")
    print(f"{'':28}{'submit/s':>12}{'process/s':>12}")
    print(f"{'bare redis-py stream loop':28}{base_submit:>12,.0f}{base_process:>12,.0f}")
    print(f"{'mediajobs echo jobs':28}{mj_submit:>12,.0f}{mj_process:>12,.0f}")
    print(f"{'ratio mediajobs / bare':28}{mj_submit / base_submit:>12.2f}{mj_process / base_process:>12.2f}")


if __name__ == "__main__":
    asyncio.run(main())
