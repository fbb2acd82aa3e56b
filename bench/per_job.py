"""Per-job cost outside the worker loop: client submission, memory per queued job, worker start-up.

    uv run python -m bench.per_job [--jobs 2000]

Each figure is printed beside a bare redis-py baseline measured in the same run, on the same Redis:

- submit latency: `JobClient.submit` (validated request, record, index, message: one script) against one
  bare XADD round trip on the same client;
- batch submission: `JobClient.submit_many` against pipelined bare XADDs of the same messages;
- memory: Redis's `used_memory` growth per queued job (record, indexes, message) against a bare stream entry
  holding the same message;
- start-up: a janitor process spawned with one echo job waiting, until that job is done (its stream entry
  deleted), against a bare `python -c` redis-py consumer doing XREADGROUP + XACK + XDEL of one entry;
- a finished job's record: `MEMORY USAGE` of the record of an echo job a janitor ran to success (its result
  kept for `RESULT_TTL_S`), median of `--finished` jobs, against the same bare stream entry.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from bench.redis_server import bench_redis
from jobcommon import QUEUES, CommonSettings, EchoRequest, JobClient, JobStatus, Queue, keys
from jobcommon.messages import DATA_FIELD, job_message
from tools.procs import ServiceProcess

BARE = "bench:bare"
SPEC = QUEUES[Queue.DEFAULT]
BARE_CONSUMER = """
import sys, redis
r = redis.Redis.from_url(sys.argv[1])
for _stream, entries in r.xreadgroup("g", "c", {sys.argv[2]: ">"}, count=1, block=5000):
    for entry_id, _fields in entries:
        r.xack(sys.argv[2], "g", entry_id)
        r.xdel(sys.argv[2], entry_id)
"""


def _quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1e6, cuts[98] * 1e6


async def submit_latency(client: JobClient, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    ours: list[float] = []
    bare: list[float] = []
    message = await job_message(EchoRequest(), "0" * 32, BARE)
    for _ in range(200):  # warm up both paths (scripts loaded, connections open)
        await client.submit(EchoRequest())
        await client.redis.xadd(BARE, {DATA_FIELD: message.payload})
    for _ in range(n):
        started = time.perf_counter()
        await client.submit(EchoRequest())
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        await client.redis.xadd(BARE, {DATA_FIELD: message.payload})
        bare.append(time.perf_counter() - started)
    return _quantiles(ours), _quantiles(bare)


async def batch_rate(client: JobClient, n: int) -> tuple[float, float]:
    requests = [EchoRequest(payload={"i": i}) for i in range(n)]
    started = time.perf_counter()
    await client.submit_many(requests)
    ours = n / (time.perf_counter() - started)
    messages = [await job_message(r, f"{i:032x}", BARE) for i, r in enumerate(requests)]
    started = time.perf_counter()
    for first in range(0, n, 500):
        async with client.redis.pipeline(transaction=False) as pipe:
            for message in messages[first : first + 500]:
                pipe.xadd(BARE, {DATA_FIELD: message.payload})
            await pipe.execute()
    return ours, n / (time.perf_counter() - started)


async def memory_per_job(client: JobClient, n: int) -> tuple[float, float]:
    redis = client.redis
    await redis.flushdb()
    await client.start()  # groups again after the flush
    before = await _used_memory(redis)
    await client.submit_many([EchoRequest(payload={"i": i}) for i in range(n)])
    ours = (await _used_memory(redis) - before) / n
    message = await job_message(EchoRequest(payload={"i": 0}), "0" * 32, BARE)
    before = await _used_memory(redis)
    async with redis.pipeline(transaction=False) as pipe:
        for _ in range(n):
            pipe.xadd(BARE, {DATA_FIELD: message.payload})
        await pipe.execute()
    bare = (await _used_memory(redis) - before) / n
    await redis.flushdb()
    await client.start()
    return ours, bare


async def _used_memory(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def start_up(client: JobClient, url: str, media_root: Path, runs: int) -> tuple[float, float]:
    ours: list[float] = []
    bare: list[float] = []
    env = {"REDIS_URL": url, "MEDIA_ROOT": str(media_root), "LOG_LEVEL": "WARNING"}
    await client.redis.xgroup_create(BARE, "g", id="0", mkstream=True)
    for _ in range(runs):
        await client.submit(EchoRequest())
        janitor = ServiceProcess("janitor", env)
        started = time.perf_counter()
        janitor.start()
        try:
            while await client.redis.xlen(SPEC.stream) > 0:
                await asyncio.sleep(0.002)
            ours.append(time.perf_counter() - started)
        finally:
            janitor.stop()
        await client.redis.xadd(BARE, {"i": 1})
        started = time.perf_counter()
        consumer = await asyncio.create_subprocess_exec(sys.executable, "-c", BARE_CONSUMER, url, BARE)
        while await client.redis.xlen(BARE) > 0:
            await asyncio.sleep(0.002)
        bare.append(time.perf_counter() - started)
        await asyncio.wait_for(consumer.wait(), 10)
    return statistics.median(ours), statistics.median(bare)


async def finished_record_bytes(client: JobClient, url: str, media_root: Path, n: int) -> tuple[float, float]:
    """Median `MEMORY USAGE` of a succeeded echo job's record, and of a bare stream entry of its message."""
    made = await client.submit_many([EchoRequest(payload={"title": f"finished {i}"}) for i in range(n)])
    janitor = ServiceProcess(
        "janitor", {"REDIS_URL": url, "MEDIA_ROOT": str(media_root), "LOG_LEVEL": "WARNING"}
    )
    janitor.start()
    try:
        deadline = time.monotonic() + 120
        for one in made:
            while (await client.get(one.job.task_id)).status != JobStatus.SUCCEEDED:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"job {one.job.task_id} did not succeed in 120 s")
                await asyncio.sleep(0.01)
    finally:
        janitor.stop()
    sizes = [await client.redis.memory_usage(keys.job(one.job.task_id), samples=0) for one in made]
    message = await job_message(EchoRequest(payload={"title": "finished 0"}), "0" * 32, BARE)
    before = await _used_memory(client.redis)
    async with client.redis.pipeline(transaction=False) as pipe:
        for _ in range(1000):
            pipe.xadd(BARE, {DATA_FIELD: message.payload})
        await pipe.execute()
    bare = (await _used_memory(client.redis) - before) / 1000
    return statistics.median(int(size or 0) for size in sizes), bare


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--finished", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_redis(Path(tmp)) as url:
        media_root = Path(tmp) / "media"
        async with JobClient(CommonSettings(redis_url=url, media_root=media_root)) as client:
            await client.redis.flushdb()
            await client.start()
            (p50, p99), (bare50, bare99) = await submit_latency(client, args.jobs)
            batch, bare_batch = await batch_rate(client, args.jobs * 5)
            memory, bare_memory = await memory_per_job(client, args.jobs * 5)
            boot, bare_boot = await start_up(client, url, media_root, args.starts)
            finished, bare_finished = await finished_record_bytes(client, url, media_root, args.finished)
    rows = [
        ("submit p50 (µs)", p50, bare50, "one XADD round trip"),
        ("submit p99 (µs)", p99, bare99, "one XADD round trip"),
        ("submit_many (jobs/s)", batch, bare_batch, "pipelined XADDs"),
        ("bytes per queued job", memory, bare_memory, "a bare stream entry"),
        ("start-up to first job (s)", boot, bare_boot, "a python -c redis-py consumer"),
        ("bytes of a finished record", finished, bare_finished, "a bare stream entry"),
    ]
    print(f"{'':28}{'mediajobs':>12}{'bare':>12}{'ratio':>8}  bare is")
    for name, ours, bare, what in rows:
        print(f"{name:28}{ours:>12,.2f}{bare:>12,.2f}{ours / bare:>8.2f}  {what}")


if __name__ == "__main__":
    asyncio.run(main())
