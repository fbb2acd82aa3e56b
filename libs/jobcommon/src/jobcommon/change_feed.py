"""The change feed: every announced job change is also appended to one capped stream (`keys.JOB_CHANGES`),
so a dashboard follows every job in one connection and resumes from the last event id it saw.

One `ChangeFeed` per process reads the stream (one blocking XREAD at a time) and hands each change to its
listeners, however many; a listener that resumes reads what it missed from the stream first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import RedisError

from jobcommon import keys
from jobcommon.cancellation import cancel_and_wait, reraise_if_cancelling
from jobcommon.events import LISTENER_BUFFER, parse_event

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from redis.asyncio import Redis

    from jobcommon.models import JobEvent

log = logging.getLogger("mediajobs.events")

CHANGES_MAXLEN = 20_000
"""About this many recent changes are kept (trimmed approximately on every append)."""
CHANGES_TTL_S = 24 * 3600
"""The feed expires this long after the last change (refreshed by every append)."""
RESUME_LIMIT = 1000
"""Most missed changes a resuming listener is sent (the newest are kept)."""
_ENTRY_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")


def valid_entry_id(text: str) -> bool:
    return _ENTRY_ID.match(text) is not None


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True, slots=True)
class Change:
    """One job change and its id in the feed (what an SSE client resumes from)."""

    id: str
    event: JobEvent


def _changes(entries: Any) -> list[Change]:
    found: list[Change] = []
    for entry_id, fields in cast("list[tuple[str, dict[str, str]]]", entries or []):
        payload = fields.get("e")
        try:
            event = parse_event(payload) if payload else None
        except (ValueError, KeyError) as exc:  # pydantic's ValidationError is a ValueError
            log.warning("change feed: entry %s does not parse: %s", entry_id, exc)
            continue
        if event is not None:
            found.append(Change(str(entry_id), event))
    return found


class ChangeFeed:
    """Fans the change stream out to in-process listeners (started by the first listener)."""

    def __init__(self, redis: Redis, *, block_ms: int = 2000) -> None:
        self._redis = redis
        self._block_ms = block_ms
        self._listeners: set[asyncio.Queue[Change | None]] = set()
        self._reader: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        if self._reader is not None:
            await cancel_and_wait(self._reader)
            self._reader = None

    async def _latest_id(self) -> str:
        last = cast("list[Any]", await self._redis.xrevrange(keys.JOB_CHANGES, "+", "-", count=1))
        return str(last[0][0]) if last else "0-0"

    async def _read_forever(self, after: str) -> None:
        while True:
            try:
                reply = await self._redis.xread({keys.JOB_CHANGES: after}, count=500, block=self._block_ms)
            except (RedisError, OSError) as exc:
                reraise_if_cancelling(exc)
                log.warning("change feed: read failed (%s); trying again", exc)
                self._broadcast(None)  # listeners re-read what they may have missed
                await asyncio.sleep(1.0)
                continue
            for _stream, entries in cast("list[tuple[str, Any]]", reply or []):
                for change in _changes(entries):
                    after = change.id
                    self._broadcast(change)

    def _broadcast(self, change: Change | None) -> None:
        for queue in self._listeners:
            try:
                queue.put_nowait(change)
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()  # a slow listener: drop its oldest, and tell it there was a gap
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)

    async def _missed(self, after: str) -> list[Change]:
        entries = await self._redis.xrevrange(keys.JOB_CHANGES, "+", f"({after}", count=RESUME_LIMIT)
        return list(reversed(_changes(entries)))

    async def _missed_or_none(self, after: str) -> list[Change] | None:
        """What `_missed` reads, or None while Redis does not answer (the reader broadcasts a gap again on
        its next failure, and the listener tries again with the next news it gets)."""
        try:
            return await self._missed(after)
        except (RedisError, OSError) as exc:
            reraise_if_cancelling(exc)
            log.warning("change feed: re-reading missed changes failed (%s); waiting for Redis", exc)
            return None

    async def listen(self, after: str | None = None) -> AsyncIterator[Change]:
        """Every change from now on; with `after` (a change id), first those since it (at most
        `RESUME_LIMIT`, the newest). A listener that fell behind re-reads the stream, so nothing in it is
        skipped; while Redis does not answer (frozen, restarting) it waits, and re-reads once it does."""
        queue: asyncio.Queue[Change | None] = asyncio.Queue(LISTENER_BUFFER)
        self._listeners.add(queue)
        try:
            if self._reader is None:
                self._reader = asyncio.create_task(self._read_forever(await self._latest_id()))
            last = after or await self._latest_id()
            if after is not None:
                for change in await self._missed(after):
                    last = change.id
                    yield change
            gap = False  # changes may have been missed and are not yet re-read
            while True:
                news = await queue.get()
                if news is None or gap:
                    missed = await self._missed_or_none(last)
                    gap = missed is None
                    for change in missed or ():
                        last = change.id
                        yield change
                if news is not None and not gap and _order(news.id) > _order(last):  # else: re-read later
                    last = news.id
                    yield news
        finally:
            self._listeners.discard(queue)
