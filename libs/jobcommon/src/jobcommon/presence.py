"""Service presence: each running service instance keeps a heartbeat key alive; health reads them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from jobcommon import keys
from jobcommon.cancellation import cancel_and_wait, tolerating

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis.asyncio import Redis


class Heartbeat:
    """Renews `mj:service:<name>:<instance>` every `interval` seconds; it expires 3 intervals after a stop."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        instance: str,
        interval: float,
        describe: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self._redis = redis
        self._key = keys.service(name, instance)
        self._interval = interval
        self._describe = describe
        self._static = {
            "service": name,
            "instance": instance,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": time.time(),
        }
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.beat()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        with tolerating(RedisError, OSError):
            await self._redis.delete(self._key)

    async def beat(self) -> None:
        state = {**self._static, **self._describe(), "seen_at": time.time()}
        await self._redis.set(self._key, json.dumps(state), px=int(self._interval * 3000))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            with tolerating(RedisError, OSError):
                await self.beat()


async def live_services(redis: Redis) -> list[dict[str, Any]]:
    """Every service instance whose heartbeat has not expired."""
    found: list[dict[str, Any]] = []
    async for key in redis.scan_iter(match=keys.SERVICES_PATTERN, count=200):
        raw = await redis.get(key)
        if raw:
            found.append(json.loads(raw))
    return sorted(found, key=lambda s: (s["service"], s["instance"]))
