"""The Redis connection every mediajobs component opens for job data, with the patience of its role.

Two roles wait differently for a Redis that stops answering (frozen, overloaded, unreachable):

- `Role.WORKER` (the services and the janitor): a command waits `REDIS_TIMEOUT_S` (15 s) and is tried again
  on a fresh connection `WORKER_RETRIES` times (backing off up to 2 s): a running job rides out a Redis blip
  of about a minute and a half without failing.
- `Role.REQUEST` (the gateway's request path, `JobClient`): a command, a connection's opening and the wait for
  a free pooled connection are each bounded by `REDIS_REQUEST_TIMEOUT_S` (2 s), a timed-out command is not
  tried again, and one that met a dropped connection (a Redis restart) is tried once more at once: a caller
  gets its answer, or a 503, within seconds, never a hang.

A wait for a free pooled connection that runs out raises `ConnectionsBusy` (every connection in use: a busy
process, not a Redis outage). redis-py says only `ConnectionError("No connection available.")`, raised
`from` the `asyncio.TimeoutError` of its wait (`BlockingConnectionPool.get_connection`); `BusyAwarePool`
tells it by that cause, not by the message, and only for the wait (opening the connection it got comes
after, and fails with errors of its own).

Every timeout is a setting (`jobcommon.settings.CommonSettings`); the retry counts are below.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobcommon.command_packing import connection_class
from jobcommon.errors import ConnectionsBusy
from jobcommon.settings import CommonSettings

WORKER_RETRIES = 5
"""A worker's command that timed out or met a dropped connection is tried this many more times."""
REQUEST_RETRIES = 1
"""A request's command that met a dropped connection is tried this many more times (a timed-out one: not)."""
HEALTH_CHECK_INTERVAL_S = 30


class Role(StrEnum):
    WORKER = "worker"
    REQUEST = "request"


def resilience(settings: CommonSettings, role: Role = Role.WORKER) -> dict[str, Any]:
    """Connection options every mediajobs Redis client of `role` shares (ours and FastStream's broker):
    bounded connect and command timeouts, a command that meets a connection dropped by a Redis restart
    retried on a fresh one, and commands packed by hiredis (`jobcommon.command_packing`). FastStream lets them
    override what the URL says; `connect` lets the URL's own options win."""
    options: dict[str, Any] = {
        "connection_class": connection_class(settings.redis_url),
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
    }
    if role is Role.REQUEST:
        bound = settings.redis_request_timeout_s
        errors: tuple[type[RedisError], ...] = (RedisConnectionError,)
        return {
            **options,
            "socket_connect_timeout": min(settings.redis_connect_timeout_s, bound),
            "socket_timeout": bound,
            # a fresh connection at once; a timed-out command is not sent again (that would double the wait)
            "retry": Retry(NoBackoff(), REQUEST_RETRIES, supported_errors=errors),
            "retry_on_error": list(errors),
        }
    errors = (RedisConnectionError, RedisTimeoutError)
    return {
        **options,
        "socket_connect_timeout": settings.redis_connect_timeout_s,
        "socket_timeout": settings.redis_timeout_s,
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.1), WORKER_RETRIES, supported_errors=errors),
        "retry_on_error": list(errors),
    }


def pool_wait_s(settings: CommonSettings, role: Role = Role.WORKER) -> float:
    """How long a caller of `role` waits for a free pooled connection."""
    return settings.redis_request_timeout_s if role is Role.REQUEST else settings.redis_timeout_s


class BusyAwarePool(BlockingConnectionPool):
    """A `BlockingConnectionPool` whose wait for a free connection, when it runs out, raises
    `ConnectionsBusy` (a `ConnectionError` still) instead of a bare `ConnectionError`."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except RedisConnectionError as exc:
            if isinstance(exc, ConnectionsBusy) or not isinstance(exc.__cause__, asyncio.TimeoutError):
                raise
            raise ConnectionsBusy(float(self.timeout or 0)) from exc


def connect(settings: CommonSettings, role: Role = Role.WORKER) -> Redis:
    """A bounded pool with `role`'s timeouts: a burst of callers waits for a free connection (instead of
    failing with "Too many connections"), an unreachable Redis fails fast instead of hanging, and a command
    that meets a connection dropped by a Redis restart is retried on a fresh one. Retrying is safe: every
    job-state change is a script that is idempotent or fenced by a run id (a retried `create` or `start`
    recognises its own first attempt). A wait for a free connection that runs out is `ConnectionsBusy`."""
    options: dict[str, Any] = {
        **resilience(settings, role),
        "decode_responses": True,
        "max_connections": settings.redis_max_connections,
        "timeout": pool_wait_s(settings, role),
        **parse_url(settings.redis_url),  # what `from_url` does: the URL's own options win
    }
    options["connection_class"] = connection_class(settings.redis_url)  # except the class: the packed one
    pool = BusyAwarePool(**options)
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the connections
