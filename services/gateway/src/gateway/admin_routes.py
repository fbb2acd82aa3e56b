"""/admin: queues with the janitor's samples over time, and the workers that run (admin keys only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.auth import Admin
from gateway.routes import Client
from jobcommon import keys
from jobcommon.presence import live_services
from jobcommon.queue_samples import QueueSample, recent
from jobcommon.queue_stats import QueueStats, all_queue_stats

router = APIRouter(prefix="/admin", tags=["admin"])

SAMPLES_SHOWN = 60


class QueueOverview(QueueStats):
    samples: list[QueueSample]
    """The janitor's last samples of this queue, oldest first (empty until it has taken one)."""


class WorkerInfo(BaseModel):
    service: str
    instance: str
    """The replica: one running process of the service."""
    consumer: str | None = None
    queue: str | None = None
    host: str | None = None
    pid: int | None = None
    concurrency: int | None = None
    running: list[str]
    """Task ids this replica is running now (as of its last heartbeat)."""
    started_at: datetime | None = None
    last_heartbeat: datetime | None = None
    alive: bool
    """Its heartbeat is fresh and, for a consumer, its liveness key (renewed by a thread) has not expired."""


@router.get("/queues", response_model=list[QueueOverview])
async def queues(client: Client, _: Admin) -> list[QueueOverview]:
    """Every queue: length, lag, pending, consumers, live workers, oldest waiting entry, and the janitor's
    samples (throughput per minute, median wait) for sparklines."""
    overview = []
    for stats in await all_queue_stats(client.redis):
        samples = await recent(client.redis, stats.queue, SAMPLES_SHOWN)
        overview.append(QueueOverview(**stats.model_dump(), samples=samples))
    return overview


def _moment(value: Any) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if isinstance(value, int | float) else None


@router.get("/workers", response_model=list[WorkerInfo])
async def workers(client: Client, _: Admin) -> list[WorkerInfo]:
    """Every live service replica (from its heartbeat): its queue, host and pid, the jobs it runs, its last
    heartbeat, and whether its process still proves it lives."""
    services = await live_services(client.redis)
    consumers = [str(s["consumer"]) for s in services if s.get("consumer")]
    async with client.redis.pipeline(transaction=False) as pipe:
        for name in consumers:
            pipe.exists(keys.alive(name))
        proofs: list[int] = await pipe.execute()
    alive = dict(zip(consumers, proofs, strict=True))
    found = []
    for entry in services:
        consumer = entry.get("consumer")
        found.append(
            WorkerInfo(
                service=str(entry.get("service", "")),
                instance=str(entry.get("instance", "")),
                consumer=consumer,
                queue=entry.get("queue"),
                host=entry.get("host"),
                pid=entry.get("pid"),
                concurrency=entry.get("concurrency"),
                running=[str(t) for t in entry.get("running", [])],
                started_at=_moment(entry.get("started_at")),
                last_heartbeat=_moment(entry.get("seen_at")),
                alive=bool(alive.get(str(consumer), 0)) if consumer else True,
            )
        )
    return found
