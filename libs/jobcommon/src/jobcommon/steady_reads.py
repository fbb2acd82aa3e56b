"""Keeps a service's stream subscriber reading through Redis restarts, with or without Redis's data.

FastStream 0.7's stream subscriber treats the two faults a Redis restart causes badly for a job queue:

- a connection error while reading is logged as "Message fetch error" and followed by a fixed 5 s pause
  (`CONSUME_ERROR_BACKOFF_SECONDS`), so every restart costs each worker at least 5 s of idleness;
- a missing consumer group (``NOGROUP``: Redis restarted without persistence, or the stream was deleted)
  stops the subscriber for good and exits the app, although re-creating the group is all it takes.

It also sizes each read to the worker slots free at that moment (FastStream sends a fixed COUNT): a worker
with a backlog takes up to that many messages per round trip, yet never takes a message no slot is free
for (at most the one it waits with, as with COUNT 1), so an idle replica still gets the rest.

`keep_reading` wraps the subscriber's one read call (`_xreadgroup`, the method both its read loop and
`get_one` use) so that a connection error waits `retry_after_s` and reads again, and ``NOGROUP`` re-creates
the group from the start of the stream (as `ensure_groups` always does, so jobs submitted in between still
run) and reads again. What Redis lost with its data stays lost; nothing else is. The wrapped method is
private to FastStream; `tests/test_delivery.py` restarts Redis (with and without data) under running
services, so a FastStream upgrade that changes it fails there, loudly.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobcommon.broker import ensure_groups

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from jobcommon.queues import QueueSpec

log = logging.getLogger("mediajobs.reads")


class _SteadyRead:
    def __init__(self, subscriber: Any, redis: Redis, spec: QueueSpec, retry_after_s: float) -> None:
        self._subscriber = subscriber
        self._read = subscriber._xreadgroup
        self._redis = redis
        self._spec = spec
        self._retry_after_s = retry_after_s
        self._outage = False

    def _free_slots(self) -> int:
        """Worker slots free now: FastStream's concurrent subscribers hold one per running handler, and the
        messages already handed over (in its buffer) will take theirs."""
        limiter = getattr(self._subscriber, "limiter", None)
        if limiter is None:
            return 1
        handed_over = self._subscriber.send_stream.statistics().current_buffer_used
        return max(1, int(limiter.value) - int(handed_over))

    async def __call__(self, *, count: int | None, block: int | None, noack: bool = False) -> Any:
        try:
            response = await self._read(count=self._free_slots(), block=block, noack=noack)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning(
                "queue %s: its consumer group is gone (Redis lost its data?); re-creating it",
                self._spec.queue,
            )
            await self._recreate_group()
            return ()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            if not self._subscriber.running:
                raise  # the service is stopping: its connection was closed under this read
            if not self._outage:
                log.warning(
                    "queue %s: Redis unreachable (%s); reading again every %g s",
                    self._spec.queue,
                    exc,
                    self._retry_after_s,
                )
                self._outage = True
            await asyncio.sleep(self._retry_after_s)
            return ()
        if self._outage:
            log.info("queue %s: reading again", self._spec.queue)
            self._outage = False
        return response

    async def _recreate_group(self) -> None:
        try:
            await ensure_groups(self._redis, [self._spec])
        except (RedisConnectionError, RedisTimeoutError, OSError):
            await asyncio.sleep(self._retry_after_s)


def keep_reading(subscriber: Any, redis: Redis, spec: QueueSpec, *, retry_after_s: float = 0.5) -> None:
    """Make `subscriber` (a FastStream Redis stream subscriber) ride out Redis restarts (see module doc)."""
    subscriber._xreadgroup = _SteadyRead(subscriber, redis, spec, retry_after_s)
