"""Live job events: every transition is published on the job's channel; listeners follow it here.

One `EventHub` per process holds a single pattern subscription to every job's channel and hands each event
to the listeners of that job, so a gateway with thousands of live SSE clients still uses one Redis
connection for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from jobcommon import keys
from jobcommon.cancellation import cancel_and_wait, reraise_if_cancelling, tolerating
from jobcommon.errors import JobNotFound
from jobcommon.models import Job, JobEvent

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from redis.asyncio import Redis

    from jobcommon.store import JobStore

log = logging.getLogger("mediajobs.events")

LISTENER_BUFFER = 1000


def parse_event(data: str | bytes) -> JobEvent:
    raw = json.loads(data)
    return JobEvent(kind=raw["kind"], job=Job.from_hash(raw["job"]))


def _log_lost_subscription(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    delay = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("event subscription lost (%s); reconnecting in %.1f s", exc, delay)


class EventHub:
    """Fans out job events from one Redis pattern subscription to in-process listeners."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._listeners: dict[str, set[asyncio.Queue[JobEvent | None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever())
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def stop(self) -> None:
        if self._reader is not None:
            await cancel_and_wait(self._reader)
            self._reader = None

    @contextlib.contextmanager
    def listen(self, task_id: str) -> Iterator[asyncio.Queue[JobEvent | None]]:
        """A queue receiving the job's events; `None` means events may have been missed (reconnect)."""
        queue: asyncio.Queue[JobEvent | None] = asyncio.Queue(LISTENER_BUFFER)
        self._listeners.setdefault(task_id, set()).add(queue)
        try:
            yield queue
        finally:
            listeners = self._listeners.get(task_id, set())
            listeners.discard(queue)
            if not listeners:
                self._listeners.pop(task_id, None)

    async def _read_forever(self) -> None:
        """Subscribe and dispatch until cancelled; a lost subscription is renewed (0.5 s, doubling to 5 s)."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((RedisError, OSError)),
            wait=wait_exponential(multiplier=0.5, max=5.0),
            before_sleep=_log_lost_subscription,
        ):
            with attempt:
                await self._read_until_lost()

    async def _read_until_lost(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(keys.EVENTS_PREFIX + "*")
            self._subscribed.set()
            self._broadcast_gap()  # anything published while (re)connecting may be missed
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is not None:
                    self._dispatch(message["channel"], message["data"])
        except (RedisError, OSError) as exc:
            reraise_if_cancelling(exc)  # a cancellation in disguise ends the loop, it is not an outage
            raise
        finally:
            with tolerating(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, channel: str | bytes, data: str | bytes) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        listeners = self._listeners.get(name.removeprefix(keys.EVENTS_PREFIX))
        if not listeners:
            return
        event = parse_event(data)
        for queue in listeners:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    def _broadcast_gap(self) -> None:
        for listeners in self._listeners.values():
            for queue in listeners:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)


async def follow(
    store: JobStore, hub: EventHub, task_id: str, *, idle_check_s: float = 5.0
) -> AsyncIterator[JobEvent]:
    """Yield the job's current state, then each change, ending after the terminal state.

    Listens before reading the current state, so no change between the two is missed; after a gap (Redis
    reconnect) or `idle_check_s` without events, the record is re-read.

    Raises JobNotFound if the job does not exist.
    """
    with hub.listen(task_id) as queue:
        last = await store.get(task_id)
        yield JobEvent(kind="status", job=last)
        while not last.status.terminal:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=idle_check_s)
            except TimeoutError:
                event = None
            if event is None:
                try:
                    current = await store.get(task_id)
                except (RedisError, OSError) as exc:  # Redis restarting: the hub reconnects; look again soon
                    reraise_if_cancelling(exc)
                    await asyncio.sleep(0.5)
                    continue
                if current != last:
                    last = current
                    yield JobEvent(kind="status", job=current)
                continue
            # events leave out the request (it never changes) and the result (it comes with the end): the
            # follower keeps the request it read, and reads the whole record once the job has ended
            job = event.job.model_copy(update={"request": last.request, "result": last.result})
            if job.status.terminal:
                job = await _final_record(store, task_id, job)
            last = job
            yield JobEvent(kind=event.kind, job=job)


async def _final_record(store: JobStore, task_id: str, announced: Job) -> Job:
    """The ended job's whole record (with its result); what was announced if Redis cannot say."""
    try:
        return await store.get(task_id)
    except (RedisError, OSError, JobNotFound) as exc:
        reraise_if_cancelling(exc)
        return announced
