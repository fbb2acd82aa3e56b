"""Progress reporting for handlers: latest value stored and announced, bursts coalesced, last one kept; and
marked on the attempt's span as `progress` events, at most one per `SPAN_EVENT_INTERVAL_S` (the last kept).

Progress is advisory: a write never holds the handler (it runs in a task of its own, one at a time), and a
write that fails (Redis away or frozen) neither fails the handler nor goes unseen as an exception of a
background task; the update stays held, and the next update, the next window or the final `flush()` writes
the latest one. (A write awaited by the handler held it for the whole of a Redis freeze: with the workers'
patience, ~60 s of a job's run.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from jobcommon.models import Progress, utcnow

if TYPE_CHECKING:
    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

    from jobcommon.store import JobStore

SPAN_EVENT_INTERVAL_S = 1.0

log = logging.getLogger("mediajobs.progress")


class ProgressReporter:
    """Coalesces progress updates: at most one write per `interval`; the latest value always lands.

    yt-dlp can report every few milliseconds; writing each would flood Redis and every listener. An update
    inside the window is held and written when the window closes; `flush()` writes whatever is held at once.
    """

    def __init__(
        self, store: JobStore, task_id: str, interval: float, run_id: str = "", span: Span | None = None
    ) -> None:
        self.store = store
        self._task_id = task_id
        self._run_id = run_id
        self._interval = interval
        self._pending: Progress | None = None
        self._last_write = float("-inf")
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.latest = Progress()
        self._span = span if span is not None and span.is_recording() else None
        self._last_event = float("-inf")
        self._event_pending = False

    async def update(self, percent: float | None = None, message: str = "", **fields: Any) -> None:
        if percent is not None:
            percent = min(100.0, max(0.0, percent))
        self.latest = Progress(percent=percent, message=message, updated_at=utcnow(), **fields)
        self._pending = self.latest
        self._event_pending = True
        if time.monotonic() - self._last_event >= SPAN_EVENT_INTERVAL_S:
            self._mark()
        if self._timer is None or self._timer.done():  # else the writer in flight (or due) takes the latest
            wait = max(0.0, self._last_write + self._interval - time.monotonic())
            self._timer = asyncio.create_task(self._write_after(wait))

    async def flush(self) -> None:
        """Write the held update now (called when the job ends, so the final update is never dropped)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        if self._event_pending:
            self._mark()
        await self._write()

    def _mark(self) -> None:
        """The latest progress as an event on the attempt's span."""
        self._event_pending = False
        if self._span is None:
            return
        self._last_event = time.monotonic()
        attributes: dict[str, AttributeValue] = {
            f"mediajobs.progress.{name}": value
            for name, value in self.latest.model_dump(exclude={"updated_at"}).items()
            if value is not None and value != ""
        }
        self._span.add_event("progress", attributes)

    async def _write_after(self, delay: float) -> None:
        """The writer: writes what is held once `delay` has passed, and again a window later while something
        is still held (an update that came during the write, or one a failed write kept)."""
        while True:
            if delay > 0:
                await asyncio.sleep(delay)
            await self._try_write()
            if self._pending is None:
                return
            delay = max(0.0, self._last_write + self._interval - time.monotonic())

    async def _try_write(self) -> None:
        """Write what is held; a failure is logged and the update kept for the next write."""
        try:
            await self._write()
        except (RedisError, OSError) as exc:
            log.warning("job=%s: progress not stored (%s); the latest is written later", self._task_id, exc)

    async def _write(self) -> None:
        async with self._lock:
            progress, self._pending = self._pending, None
            if progress is None:
                return
            self._last_write = time.monotonic()
            try:
                await self.store.report_progress(self._task_id, progress, run_id=self._run_id)
            except BaseException:
                if self._pending is None:  # nothing newer came meanwhile: this one is still the latest
                    self._pending = progress
                raise
