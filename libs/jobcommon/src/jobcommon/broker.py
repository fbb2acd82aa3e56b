"""The FastStream Redis broker every mediajobs process uses, and the consumer groups it relies on."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from faststream.redis import RedisBroker
from faststream.redis.prometheus import RedisPrometheusMiddleware
from prometheus_client import REGISTRY
from redis.exceptions import ResponseError

from jobcommon.connection import resilience
from jobcommon.job_types import JOB_TYPES
from jobcommon.tracing import configure_tracing

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from redis.asyncio import Redis

    from jobcommon.queues import QueueSpec
    from jobcommon.settings import CommonSettings

access_log = logging.getLogger("mediajobs.broker")
access_log.setLevel(logging.WARNING)  # FastStream logs every message at INFO; our job log says more, once


class QuietShutdown(logging.Filter):
    """Drops FastStream's "Message fetch error" while the broker stops: its reader's connection is closed
    under a pending XREADGROUP on every shutdown, which is noise, not an error. At any other time it shows."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = False

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.stopping and record.getMessage().startswith("Message fetch error"))


BROKER_METRICS = "mediajobs_broker"
"""Prefix of FastStream's own message metrics (received, processed, published, in process; by stream)."""


def make_broker(
    settings: CommonSettings,
    service_name: str,
    *,
    middlewares: Sequence[Any] = (),
    graceful_timeout: float | None = None,
) -> RedisBroker:
    """A broker with FastStream's Prometheus metrics and the given middlewares (tracing is mediajobs' own:
    `jobcommon.job_spans`, a span per job created and per attempt; FastStream's would double them), whose
    connection rides out Redis restarts like the job store's (a publish retried on a fresh connection)."""
    configure_tracing(service_name)
    return RedisBroker(
        settings.redis_url,
        **resilience(settings),
        middlewares=(
            RedisPrometheusMiddleware(
                registry=REGISTRY, app_name=service_name, metrics_prefix=BROKER_METRICS
            ),
            *middlewares,
        ),
        logger=access_log,
        graceful_timeout=graceful_timeout,
    )


async def ensure_groups(redis: Redis, specs: Iterable[QueueSpec] | None = None) -> None:
    """Create each queue's streams (one per lane) and consumer group from the start of the stream, if missing.

    FastStream would create a group at `$` when its subscriber first starts, silently skipping every job
    submitted before the service first ran; creating it at `0` first means those jobs still run.
    """
    for spec in JOB_TYPES.queues() if specs is None else specs:
        for stream in spec.lanes.values():
            try:
                await redis.xgroup_create(stream, spec.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
