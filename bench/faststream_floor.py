"""The floor of the fixed stack: a bare FastStream app draining a Redis stream, no job bookkeeping at all.

    python -m bench.faststream_floor REDIS_URL STREAM CONCURRENCY SLEEP_S   # the app (run by `floor`)

Every service is "a FastStream app consuming its own Redis queue" (DEVELOPERS.md), so no mediajobs worker can
be faster than FastStream itself consuming the same kind of stream. `floor` measures that, the way
`bench.echo_throughput` measures mediajobs: a backlog of messages first, then one separate process (uvloop,
like the services) whose subscriber has FastStream's most favourable settings for throughput: reads of up
to 100 messages, `max_workers` handlers at once, no per-message log, no middleware, no tracing, a no-op
handler (or one that sleeps `SLEEP_S`), FastStream's own XACK per message. The clock starts when the first
message has been acknowledged, so process start-up is excluded, and stops when every message is acknowledged.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from redis.asyncio import Redis

from bench.cpu_time import process_cpu_s, redis_cpu_s

FLOOR_STREAM = "bench:faststream-floor"
FLOOR_GROUP = "floor"
READ_AHEAD = 100


def serve(url: str, stream: str, concurrency: int, sleep_s: float) -> None:
    """Run the bare app until it is terminated."""
    import uvloop
    from faststream import FastStream
    from faststream.redis import RedisBroker, StreamSub

    broker = RedisBroker(url, logger=None)  # type: ignore[arg-type]  # None: no logging (FastStream documents it)
    app = FastStream(broker, logger=None)

    @broker.subscriber(
        stream=StreamSub(stream, group=FLOOR_GROUP, consumer="floor-1", max_records=READ_AHEAD),
        max_workers=concurrency,
    )
    async def handle(body: Any) -> None:
        if sleep_s:
            await asyncio.sleep(sleep_s)

    uvloop.run(app.run())


async def _group(redis: Redis, stream: str) -> dict[str, Any]:
    groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    return next(g for g in groups if g["name"] in (FLOOR_GROUP, FLOOR_GROUP.encode()))


async def floor(url: str, n: int, concurrency: int, sleep_s: float = 0.0) -> tuple[float, float, float]:
    """Messages/s of the bare FastStream app over a backlog of `n`, and its CPU µs and Redis's per message."""
    redis = Redis.from_url(url, decode_responses=True)
    await redis.delete(FLOOR_STREAM)
    await redis.xgroup_create(FLOOR_STREAM, FLOOR_GROUP, id="0", mkstream=True)
    ids: list[str] = []
    for chunk in range(0, n, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(chunk, min(n, chunk + 1000)):
                pipe.xadd(FLOOR_STREAM, {"i": i})
            ids += await pipe.execute()
    position = {entry_id: i + 1 for i, entry_id in enumerate(ids)}

    async def acknowledged() -> int:
        group = await _group(redis, FLOOR_STREAM)
        return position.get(group["last-delivered-id"], 0) - int(group["pending"])

    app = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.faststream_floor", url, FLOOR_STREAM, str(concurrency), str(sleep_s)
    )
    try:
        while (done := await acknowledged()) == 0:
            if app.returncode is not None:
                raise RuntimeError(f"the FastStream app exited with {app.returncode}")
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        app_cpu, redis_cpu = process_cpu_s(app.pid), await redis_cpu_s(redis)
        while await acknowledged() < n:
            await asyncio.sleep(0.01)
        finished = time.perf_counter()
        app_cpu, redis_cpu = process_cpu_s(app.pid) - app_cpu, await redis_cpu_s(redis) - redis_cpu
    finally:
        app.terminate()
        await asyncio.wait_for(app.wait(), 10)
        await redis.delete(FLOOR_STREAM)
        await redis.aclose()
    counted = n - done  # those acknowledged before the clock started are not
    return counted / (finished - started), app_cpu / counted * 1e6, redis_cpu / counted * 1e6


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
