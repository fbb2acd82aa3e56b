"""Progress latency: from a handler's `ctx.progress` to a Server-Sent Events client of the gateway.

    uv run python -m bench.progress_latency [--jobs 100 --every-s 0.25 --seconds 10]

A gateway (authentication on: an admin key) and a janitor with a slot per job run against one Redis, both
exporting their traces (to `bench.otlp_sink`; not with `--no-export`). `--jobs` echo jobs each report
progress every `--every-s` for `--seconds` (by default 100 jobs at 4 reports a second: 400 progress writes a
second), while one client follows `GET /jobs/stream` (the dashboard's connection). The jobs start spread
over one reporting period, so their reports arrive spread out as independent jobs' would (not 100 at the
same instant). Each progress event's latency is its arrival at the client minus the `progress.updated_at`
the worker stamped when the handler reported it (one machine, one clock). With `--every-s` below the
workers' PROGRESS_INTERVAL_S (0.25 s) the reporter coalesces reports, and its hold is part of the figure.

The baseline, measured in the same run against the same Redis, is the floor of that path: a bare PUBLISH
received by a bare redis-py subscriber at the same rate and spread (no record, no change feed, no HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse
from redis.asyncio import Redis

from bench.http_load import wait_until_served
from bench.otlp_sink import start_sink
from bench.redis_server import bench_redis
from jobcommon import CommonSettings, EchoRequest, JobClient
from tools.devkey import ensure_dev_key
from tools.localredis import free_port
from tools.procs import ServiceProcess

BARE_CHANNEL = "bench:progress"


def _quantiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1e3, cuts[94] * 1e3, cuts[98] * 1e3


async def _follow(url: str, key: str, latencies: list[float], ids: set[str], ready: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=None) as http,
        aconnect_sse(http, "GET", "/jobs/stream") as events,
    ):
        ready.set()
        async for event in events.aiter_sse():
            if event.event != "job":
                continue
            data = json.loads(event.data)
            if data["kind"] != "progress" or data["job"]["task_id"] not in ids:
                continue
            stamped = datetime.fromisoformat(data["job"]["progress"]["updated_at"]).timestamp()
            latencies.append(time.time() - stamped)


async def mediajobs(
    redis_url: str, folder: Path, jobs: int, every_s: float, seconds: float, *, export: bool
) -> list[float]:
    key, keys_file, _ = ensure_dev_key(folder / "keys")
    port = free_port()
    sink, otlp_endpoint = start_sink()
    env = {"REDIS_URL": redis_url, "MEDIA_ROOT": str(folder / "media"), "LOG_LEVEL": "WARNING"}
    if export:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_endpoint
    gateway = ServiceProcess("gateway", {**env, "API_KEYS_FILE": str(keys_file), "GATEWAY_PORT": str(port)})
    janitor = ServiceProcess("janitor", {**env, "CONCURRENCY": str(jobs)})
    url = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    gateway.start()
    janitor.start()
    try:
        await asyncio.to_thread(wait_until_served, url)
        settings = CommonSettings(redis_url=redis_url, media_root=folder / "media")
        async with JobClient(settings) as client:
            ready = asyncio.Event()
            ids: set[str] = set()
            follower = asyncio.create_task(_follow(url, key, latencies, ids, ready))
            await ready.wait()
            for _ in range(jobs):  # spread over one period, so the reports are too (not all at once)
                made = await client.submit(EchoRequest(sleep_s=seconds, step_s=every_s))
                ids.add(made.job.task_id)
                await asyncio.sleep(every_s / jobs)
            # measuring: this process only follows the stream until the last reports are in
            await asyncio.sleep(seconds + 2 * every_s)
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                states = [await client.get(task_id) for task_id in ids]
                if all(job.status.terminal for job in states):
                    break
                await asyncio.sleep(0.5)
    finally:
        janitor.stop()
        gateway.stop()
        sink.shutdown()
    return latencies


async def baseline(redis_url: str, jobs: int, every_s: float, seconds: float) -> list[float]:
    """`jobs` publishers, each PUBLISHing a timestamp every `every_s`, one subscriber."""
    publisher, subscriber = Redis.from_url(redis_url), Redis.from_url(redis_url)
    latencies: list[float] = []
    async with subscriber.pubsub() as pubsub:
        await pubsub.subscribe(BARE_CHANNEL)

        async def publish(offset: float) -> None:
            await asyncio.sleep(offset)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await asyncio.sleep(every_s)
                await publisher.publish(BARE_CHANNEL, repr(time.time()))

        async def receive() -> None:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    latencies.append(time.time() - float(message["data"]))

        receiver = asyncio.create_task(receive())
        await asyncio.gather(*(publish(i * every_s / jobs) for i in range(jobs)))
        await asyncio.sleep(0.5)
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
    await publisher.aclose()
    await subscriber.aclose()
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--every-s", type=float, default=0.25)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-export", action="store_true", help="the services export no traces")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_redis(Path(tmp)) as url:
        bare = await baseline(url, args.jobs, args.every_s, args.seconds)
        ours = await mediajobs(
            url, Path(tmp), args.jobs, args.every_s, args.seconds, export=not args.no_export
        )
    rate = args.jobs / args.every_s
    print(f"{args.jobs} jobs reporting every {args.every_s:g} s ({rate:,.0f} progress updates/s), one client")
    print(f"{'':34}{'events':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, samples in (("bare PUBLISH -> subscriber", bare), ("ctx.progress -> SSE /jobs/stream", ours)):
        p50, p95, p99 = _quantiles(samples)
        print(f"{name:34}{len(samples):>8,}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}")


if __name__ == "__main__":
    asyncio.run(main())
