"""The Redis connection every mediajobs component opens for job data."""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobcommon.command_packing import connection_class
from jobcommon.settings import CommonSettings

RETRIES = 5


def resilience(settings: CommonSettings) -> dict[str, Any]:
    """Connection options every mediajobs Redis client shares (ours and FastStream's broker): bounded connect
    and command timeouts, a command that meets a connection dropped by a Redis restart retried on a fresh
    one (with backoff, for a few seconds), and commands packed by hiredis (`jobcommon.command_packing`).
    FastStream lets them override what the URL says; `connect` lets the URL's own options win."""
    return {
        "connection_class": connection_class(settings.redis_url),
        "socket_connect_timeout": settings.redis_connect_timeout_s,
        "socket_timeout": settings.redis_timeout_s,
        "health_check_interval": 30,
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.1), RETRIES),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def connect(settings: CommonSettings) -> Redis:
    """A bounded pool with bounded timeouts: a burst of callers waits for a free connection (instead of
    failing with "Too many connections"), an unreachable Redis fails fast instead of hanging, and a command
    that meets a connection dropped by a Redis restart is retried on a fresh one. Retrying is safe: every
    job-state change is a script that is idempotent or fenced by a run id (a retried `create` or `start`
    recognises its own first attempt)."""
    options: dict[str, Any] = {
        **resilience(settings),
        "decode_responses": True,
        "max_connections": settings.redis_max_connections,
        "timeout": settings.redis_timeout_s,
        **parse_url(settings.redis_url),  # what `from_url` does: the URL's own options win
    }
    options["connection_class"] = connection_class(settings.redis_url)  # except the class: the packed one
    pool = BlockingConnectionPool(**options)
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the connections
