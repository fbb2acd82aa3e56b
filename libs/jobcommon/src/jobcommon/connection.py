"""The Redis connection every mediajobs component opens for job data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.asyncio import Redis

if TYPE_CHECKING:
    from jobcommon.settings import CommonSettings


def connect(settings: CommonSettings) -> Redis:
    """A pooled client with bounded timeouts, so an unreachable Redis fails fast instead of hanging."""
    return Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=settings.redis_connect_timeout_s,
        socket_timeout=settings.redis_timeout_s,
        health_check_interval=30,
    )
