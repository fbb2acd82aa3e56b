"""The Redis connection every mediajobs component opens for job data."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from jobcommon.settings import CommonSettings


def connect(settings: CommonSettings) -> Redis:
    """A bounded pool with bounded timeouts: a burst of callers waits for a free connection (instead of
    failing with "Too many connections"), and an unreachable Redis fails fast instead of hanging."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        decode_responses=True,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_connect_timeout_s,
        socket_timeout=settings.redis_timeout_s,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the connections
