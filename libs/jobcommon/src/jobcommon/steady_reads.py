"""Keeps a service's stream subscriber reading through Redis restarts, with or without Redis's data.

FastStream 0.7's stream subscriber treats the two faults a Redis restart causes badly for a job queue:

- a connection error while reading is logged as "Message fetch error" and followed by a fixed 5 s pause
  (`CONSUME_ERROR_BACKOFF_SECONDS`), so every restart costs each worker at least 5 s of idleness;
- a missing consumer group (``NOGROUP``: Redis restarted without persistence, or the stream was deleted)
  stops the subscriber for good and exits the app, although re-creating the group is all it takes.

It also reads a queue's three lanes (`jobcommon.priorities`) where FastStream reads one stream, and sizes
each read to the worker slots free at that moment (FastStream sends a fixed COUNT): one script call
(`lua/take.lua`) takes up to that many messages from the first lane, in the read's weighted order, that has
any. With every slot busy it does not read at all until one frees (`jobcommon.worker_slots`): a message taken
without a slot would sit in the worker, unstarted and so unrenewed, and be reclaimed as lost once its lease
ran out (while its worker lives). Only when every lane is empty does the worker wait, with a blocking
XREADGROUP and COUNT 1 on as many lanes as it has free slots (all three, unless fewer are free), so it never
takes a message no slot is free for, and an idle replica still gets the rest.

The worker also joins its consumer group on every lane (XGROUP CREATECONSUMER) before its first read, after
re-creating the groups, and again every `REJOIN_EVERY_S` while it reads: Redis (6.2 and 7 alike) adds a
consumer to a group only when XREADGROUP delivers it something, so an idle worker would otherwise not be in
the group at all, and its queue would show no consumers beside a live worker until its first job
(`jobcommon.queue_stats`). The periodic join puts back a consumer removed while its worker lives (its groups
re-created by another process after Redis lost its data, or taken for a stopped worker's while its heartbeat
lapsed); it costs one round trip every few seconds, nothing per job.

`keep_reading` replaces the subscriber's one read call (`_xreadgroup`, which its read loop uses; FastStream's
`get_one` unpacks a single stream and is not used on these subscribers) with that read, where a connection
error waits `retry_after_s` and reads again, and ``NOGROUP`` re-creates the groups from the start of the
streams (as `ensure_groups` always does, so jobs submitted in between still run) and reads again. What
Redis lost with its data stays lost; nothing else is. The replaced method is private to FastStream;
`tests/test_delivery.py` restarts Redis (with and without data) under running services, so a FastStream
upgrade that changes it fails there, loudly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobcommon.broker import ensure_groups
from jobcommon.priorities import LaneOrder
from jobcommon.scripts import lua_plain

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from jobcommon.queues import QueueSpec
    from jobcommon.worker_slots import WorkerSlots

log = logging.getLogger("mediajobs.reads")

REJOIN_EVERY_S = 5.0
"""How often a reading worker makes sure again that it is a consumer of each of its queue's lanes."""


class _SteadyRead:
    def __init__(
        self, subscriber: Any, redis: Redis, spec: QueueSpec, slots: WorkerSlots, retry_after_s: float
    ) -> None:
        self._subscriber = subscriber
        self._slots = slots
        self._redis = redis
        self._take = redis.register_script(lua_plain("take"))
        self._order = LaneOrder()
        self._spec = spec
        self._retry_after_s = retry_after_s
        self._outage = False
        self._join_at = 0.0
        """When (monotonic) to join the group's lanes next: at once before the first read."""
        self._join_warned = False

    def _idle(self) -> bool:
        """Whether the subscriber runs no handler and holds no message for one (FastStream's own count)."""
        limiter = self._subscriber.limiter
        handed_over = self._subscriber.send_stream.statistics().current_buffer_used
        return int(limiter.value) == int(self._subscriber.max_workers) and not handed_over

    async def __call__(self, *, count: int | None, block: int | None, noack: bool = False) -> Any:
        try:
            if time.monotonic() >= self._join_at:
                await self._join()
            response = await self._read(await self._slots.wait_free(self._idle), block)
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

    async def _read(self, count: int, block: int | None) -> Any:
        """Up to `count` messages from the first lane in this read's order that has any; else wait (at most
        `block` ms) for the first message of any lane."""
        client = self._subscriber._client
        lanes = self._spec.lanes
        order = [lanes[priority] for priority in self._order.next()]
        group, consumer = self._spec.group, self._subscriber.stream_sub.consumer
        taken = await self._take(keys=order, args=[group, consumer, count], client=client)
        if taken:
            response = [
                (stream, [(entry_id, _as_dict(fields)) for entry_id, fields in entries])
                for stream, entries in taken
            ]
        elif not block:
            return ()
        else:
            # one message per lane watched: never more lanes than free slots (the others are looked at
            # again by the next take, after at most `block` ms)
            watched = dict.fromkeys(order[:count], ">")
            response = await client.xreadgroup(group, consumer, watched, count=1, block=block)
        for stream, entries in response or ():
            name = stream.decode() if isinstance(stream, bytes) else stream  # as FastStream names the channel
            self._slots.take(name, (entry_id for entry_id, _fields in entries))
        return response

    async def _join(self) -> None:
        """Make this worker a consumer of its group on every lane of the queue (a no-op where it is one)."""
        client = self._subscriber._client
        group, consumer = self._spec.group, self._subscriber.stream_sub.consumer
        async with client.pipeline(transaction=False) as pipe:
            for stream in self._spec.lanes.values():
                pipe.xgroup_createconsumer(stream, group, consumer)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        failed = [reply for reply in replies if isinstance(reply, ResponseError)]
        if not failed:
            self._join_at = time.monotonic() + REJOIN_EVERY_S
            return
        # A lane without its stream or group: the read that follows meets NOGROUP and re-creates them, and the
        # join is tried again soon. Any other refusal is worth a warning, once, not a failed read.
        missing = all("NOGROUP" in str(exc) or "key to exist" in str(exc) for exc in failed)
        self._join_at = time.monotonic() + (self._retry_after_s if missing else REJOIN_EVERY_S)
        if not missing and not self._join_warned:
            self._join_warned = True
            log.warning(
                "queue %s: could not join the consumer group (%s); it shows no consumer until a job comes",
                self._spec.queue,
                failed[0],
            )

    async def _recreate_group(self) -> None:
        self._join_at = 0.0  # the re-created groups have no consumers: join them before the next read
        try:
            await ensure_groups(self._redis, [self._spec])
        except (RedisConnectionError, RedisTimeoutError, OSError):
            await asyncio.sleep(self._retry_after_s)


def _as_dict(fields: list[bytes]) -> dict[bytes, bytes]:
    """A stream entry's flat field list (as a script returns it) as redis-py's XREADGROUP reply has it."""
    return dict(zip(fields[::2], fields[1::2], strict=True))


def keep_reading(
    subscriber: Any, redis: Redis, spec: QueueSpec, slots: WorkerSlots, *, retry_after_s: float = 0.5
) -> None:
    """Make `subscriber` (a FastStream Redis stream subscriber with `max_workers`) ride out Redis restarts and
    read only as many messages as `slots` has free (see module doc)."""
    subscriber._xreadgroup = _SteadyRead(subscriber, redis, spec, slots, retry_after_s)
