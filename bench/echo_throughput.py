"""Echo-job throughput: mediajobs (JobClient -> stream -> janitor process) vs a bare redis-py loop.

    uv run task bench -- --jobs 2000 --concurrency 16 [--io-jobs 2000 --io-concurrency 50 --io-ms 50]

Both sides use the same Redis. The baseline is the floor any Redis-streams queue pays: XADD every message
(pipelined), then one consumer doing XREADGROUP COUNT 100 and one XACK per message. mediajobs does much
more per job (a validated record, atomic transitions, progress/state announcements, tracing, TTLs, XDEL), so
the ratio is the price of those guarantees. Submission and processing are timed separately.

Beside the rates it prints the CPU time each side spends per job while processing: the consumer's (the
bench process for the baseline, the janitor process for mediajobs, from /proc; the janitor's housekeeping
duties included, a few per cent) and the Redis server's (its `INFO cpu`), which says whether a job's cost
sits in Python or in Redis's scripts.

Then the same janitor runs I/O-bound echo jobs (each waits `--io-ms` in `asyncio.sleep`) at
`--io-concurrency`: their rate against the ceiling that concurrency allows (concurrency / wait), i.e. how
much of its concurrency a worker loses to per-job overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from bench.cpu_time import process_cpu_s, redis_cpu_s
from bench.faststream_floor import floor as floor_run
from bench.redis_server import bench_redis
from jobcommon import QUEUES, CommonSettings, EchoRequest, JobClient, Queue
from tools.procs import ServiceProcess

BASELINE_STREAM = "bench:baseline"


@dataclass(frozen=True)
class Run:
    """One side's figures: jobs/s submitted and processed, and CPU µs per job while processing."""

    submit_rate: float
    process_rate: float
    consumer_us: float
    redis_us: float


async def baseline(url: str, n: int) -> Run:
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
    redis_cpu, own_cpu = await redis_cpu_s(redis), time.process_time()
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
    own_cpu, redis_cpu = time.process_time() - own_cpu, await redis_cpu_s(redis) - redis_cpu
    await redis.delete(BASELINE_STREAM)
    await redis.aclose()
    return Run(n / (submitted - started), n / (finished - submitted), own_cpu / n * 1e6, redis_cpu / n * 1e6)


async def faststream_floor(url: str, n: int, concurrency: int, sleep_s: float = 0.0) -> Run:
    """The bare FastStream app's figures (`bench.faststream_floor`); its backlog is XADDed as the baseline's,
    so it has no submission rate of its own."""
    rate, app_us, redis_us = await floor_run(url, n, concurrency, sleep_s)
    return Run(math.nan, rate, app_us, redis_us)


async def mediajobs(url: str, n: int, concurrency: int, media_root: Path, sleep_s: float = 0.0) -> Run:
    settings = CommonSettings(redis_url=url, media_root=media_root)
    spec = QUEUES[Queue.DEFAULT]
    async with JobClient(settings) as client:
        started = time.perf_counter()
        sem = asyncio.Semaphore(64)

        async def submit_one() -> None:
            async with sem:
                await client.submit(EchoRequest(sleep_s=sleep_s))

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
            # The clock starts when the service has finished its first job (its entry is deleted then), so
            # process start-up is excluded; the jobs counted are those still queued at that moment.
            while (left := await client.redis.xlen(spec.stream)) == n:
                await asyncio.sleep(0.005)
            first = time.perf_counter()
            worker_cpu, redis_cpu = process_cpu_s(janitor.pid), await redis_cpu_s(client.redis)
            while await client.redis.xlen(spec.stream) > 0:
                await asyncio.sleep(0.01)
            finished = time.perf_counter()
            worker_cpu = process_cpu_s(janitor.pid) - worker_cpu
            redis_cpu = await redis_cpu_s(client.redis) - redis_cpu
        finally:
            janitor.stop()
    per_job_us = 1e6 / left
    return Run(
        n / (submitted - started), left / (finished - first), worker_cpu * per_job_us, redis_cpu * per_job_us
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--io-jobs", type=int, default=2000, help="I/O-bound jobs for the second part")
    parser.add_argument("--io-concurrency", type=int, default=50)
    parser.add_argument("--io-ms", type=float, default=50.0, help="how long each I/O-bound job waits")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_redis(Path(tmp)) as url:
        fresh = Redis.from_url(url)
        await fresh.flushdb()
        await fresh.aclose()
        base = await baseline(url, args.jobs)
        floor = await faststream_floor(url, args.jobs, args.concurrency)
        ours = await mediajobs(url, args.jobs, args.concurrency, Path(tmp) / "media")
        io_floor = await faststream_floor(url, args.io_jobs, args.io_concurrency, sleep_s=args.io_ms / 1000)
        io = await mediajobs(
            url, args.io_jobs, args.io_concurrency, Path(tmp) / "media", sleep_s=args.io_ms / 1000
        )
    ceiling = args.io_concurrency / (args.io_ms / 1000)
    print(f"{args.jobs} jobs, janitor concurrency {args.concurrency}, one Redis, same run")
    print(f"{'':28}{'submit/s':>12}{'process/s':>12}{'consumer µs':>13}{'Redis µs':>10}  (CPU per job)")
    for name, run in (
        ("bare redis-py stream loop", base),
        ("bare FastStream app", floor),
        ("mediajobs echo jobs", ours),
    ):
        submitted = "—" if math.isnan(run.submit_rate) else f"{run.submit_rate:,.0f}"
        print(
            f"{name:28}{submitted:>12}{run.process_rate:>12,.0f}"
            f"{run.consumer_us:>13,.0f}{run.redis_us:>10,.0f}"
        )
    print(
        f"{'ratio mediajobs / bare':28}{ours.submit_rate / base.submit_rate:>12.2f}"
        f"{ours.process_rate / base.process_rate:>12.2f}"
        f"{ours.consumer_us / base.consumer_us:>13.1f}{ours.redis_us / base.redis_us:>10.1f}"
    )
    print(
        f"{'ratio FastStream / bare':28}{'':>12}{floor.process_rate / base.process_rate:>12.2f}"
        f"{floor.consumer_us / base.consumer_us:>13.1f}{floor.redis_us / base.redis_us:>10.1f}"
    )
    print(
        f"{'ratio mediajobs / FastStream':28}{'':>12}{ours.process_rate / floor.process_rate:>12.2f}"
        f"{ours.consumer_us / floor.consumer_us:>13.1f}{ours.redis_us / floor.redis_us:>10.1f}"
    )
    print(
        f"\n{args.io_jobs} echo jobs of {args.io_ms:g} ms (asyncio.sleep, one progress report each) at "
        f"concurrency {args.io_concurrency}: {io.process_rate:,.0f} jobs/s of a {ceiling:,.0f}/s ceiling "
        f"(ratio {io.process_rate / ceiling:.2f}); CPU per job {io.consumer_us:,.0f} µs worker, "
        f"{io.redis_us:,.0f} µs Redis"
    )
    print(
        f"the bare FastStream app, same messages and concurrency: {io_floor.process_rate:,.0f}/s "
        f"(ratio {io_floor.process_rate / ceiling:.2f}; mediajobs / FastStream "
        f"{io.process_rate / io_floor.process_rate:.2f}); CPU per message {io_floor.consumer_us:,.0f} µs "
        f"app, {io_floor.redis_us:,.0f} µs Redis"
    )


if __name__ == "__main__":
    asyncio.run(main())
