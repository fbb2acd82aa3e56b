"""The dashboard's listing index at scale: N job records (100,000 by default) created through the store's own
`create` script, then the latency of what the dashboard asks for — first and deep pages (cursor and offset),
status / owner / type filters, counts, and searches.

    uv run python -m bench.dashboard_index --jobs 100000

Runs against a private redis-server it starts (or REDIS_URL's server, database 15, which it flushes). Each
figure is the median of `--repeat` calls, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.redis_server import bench_redis
from jobcommon import CommonSettings, ErrorInfo, Job, JobStatus
from jobcommon.job_index import JobQuery
from jobcommon.store import JobStore

OWNERS = ("alice", "bob", "carol", "dave")
WORDS = ("cats", "dogs", "birds", "trains", "rivers", "music", "lectures", "cooking")
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def record(i: int) -> Job:
    video = i % 3 == 0
    url = f"https://media{i % 50}.example/{WORDS[i % len(WORDS)]}/{WORDS[(i // 8) % len(WORDS)]}/clip-{i}.mp4"
    return Job(
        task_id=f"bench{i:08d}",
        job_type="video_download" if video else "echo",
        queue="video_downloads" if video else "default",
        status=JobStatus.QUEUED,
        created_at=BASE + timedelta(seconds=i),
        owner=OWNERS[i % len(OWNERS)],
        request={"job_type": "video_download", "url": url} if video else {"job_type": "echo", "title": url},
    )


async def create(store: JobStore, n: int, concurrency: int) -> float:
    started = time.perf_counter()
    for start in range(0, n, concurrency):
        await asyncio.gather(*(store.create(record(i)) for i in range(start, min(n, start + concurrency))))
    return n / (time.perf_counter() - started)


async def finish_some(store: JobStore, n: int, concurrency: int) -> None:
    """Every 10th job failed (with a searchable error), every 10th + 1 succeeded."""
    error = ErrorInfo(type="DiskFull", message="no space left on the volume")

    async def end(i: int) -> None:
        task_id = f"bench{i:08d}"
        if i % 10 == 0:
            volume = ErrorInfo(type=error.type, message=f"{error.message}{i % 7}")
            await store.transition(task_id, allowed=(JobStatus.QUEUED,), to=JobStatus.FAILED, error=volume)
        else:
            await store.transition(task_id, allowed=(JobStatus.QUEUED,), to=JobStatus.SUCCEEDED)

    chosen = [i for i in range(n) if i % 10 in (0, 1)]
    for start in range(0, len(chosen), concurrency):
        await asyncio.gather(*(end(i) for i in chosen[start : start + concurrency]))


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


async def deep_cursor(store: JobStore, query: JobQuery, pages: int) -> tuple[float, str]:
    """Walk `pages` pages of 50; the last page's latency."""
    cursor = None
    took = 0.0
    for _ in range(pages):
        started = time.perf_counter()
        page = await store.search(query, limit=50, cursor=cursor)
        took = (time.perf_counter() - started) * 1000
        cursor = page.next_cursor
    return took, str(cursor)


async def run(url: str, n: int, concurrency: int, repeat: int) -> None:
    redis = Redis.from_url(url, decode_responses=True, max_connections=concurrency + 8)
    await redis.flushdb(asynchronous=True)
    settings = CommonSettings(redis_url=url, media_root=Path(tempfile.gettempdir()))
    store = JobStore(redis, settings)
    rate = await create(store, n, concurrency)
    print(f"created {n} jobs through the create script: {rate:,.0f} jobs/s")
    await finish_some(store, n, concurrency)
    info = await redis.info("memory")
    print(f"Redis memory with {n} jobs: {int(info['used_memory']) / 1e6:.0f} MB\n")

    cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("first page, all jobs", lambda: store.search(JobQuery(), limit=50)),
        ("first page, one owner", lambda: store.search(JobQuery(owner="bob"), limit=50)),
        (
            "first page, owner + failed",
            lambda: store.search(JobQuery(owner="alice", status=JobStatus.FAILED), limit=50),
        ),
        (
            "first page, type + since/until",
            lambda: store.search(
                JobQuery(
                    job_type="video_download", since=BASE.timestamp() + n / 2, until=BASE.timestamp() + n
                ),
                limit=50,
            ),
        ),
        (
            "offset 50,000 (legacy paging)",
            lambda: store.search(JobQuery(), limit=50, offset=min(50_000, n // 2)),
        ),
        ("search 'cats' (1 in 8)", lambda: store.search(JobQuery(tokens=("cats",)), limit=50)),
        (
            "search 'cats trains' (1 in 64)",
            lambda: store.search(JobQuery(tokens=("cats", "trains")), limit=50),
        ),
        (
            "search 'clip 4242' (one job, prefix)",
            lambda: store.search(JobQuery(tokens=("clip", "4242")), limit=50),
        ),
        ("search prefix 'lect'", lambda: store.search(JobQuery(tokens=("lect",)), limit=50)),
        (
            "search error 'volume3' + owner",
            lambda: store.search(JobQuery(owner="alice", tokens=("volume3",)), limit=50),
        ),
        ("counts, all jobs", lambda: store.index.counts(JobQuery())),
        ("counts, owner + type", lambda: store.index.counts(JobQuery(owner="carol", job_type="echo"))),
        ("counts, search 'cats' (bounded walk)", lambda: store.index.counts(JobQuery(tokens=("cats",)))),
    ]
    print(f"{'request':<40} {'median ms':>10}  result")
    for name, call in cases:
        took, result = await timed(call, repeat)
        if hasattr(result, "jobs"):
            more = result.next_cursor is not None or result.next_offset is not None
            shown = f"{len(result.jobs)} jobs, more: {more}"
        else:
            shown = f"total {result.total}{' (approximate)' if result.approximate else ''}"
        print(f"{name:<40} {took:>10.2f}  {shown}")
    took, _ = await deep_cursor(store, JobQuery(), 200)
    print(f"{'page 200 by cursor (10,000 deep)':<40} {took:>10.2f}  (last page of a 200-page walk)")
    started = time.perf_counter()
    await redis.delete(*[f"mj:job:bench{i:08d}" for i in range(0, min(n, 1000))])
    removed = await store.prune_index()
    took = (time.perf_counter() - started) * 1000
    print(f"{'prune_index (1,000 records gone)':<40} {took:>10.2f}  {removed} removed")
    await redis.flushdb(asynchronous=True)
    await redis.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_redis(Path(tmp), database=15) as url:
        await run(url, args.jobs, args.concurrency, args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
