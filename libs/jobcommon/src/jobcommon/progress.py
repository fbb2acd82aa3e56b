"""Progress reporting for handlers: latest value stored and announced, bursts coalesced, last one kept."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from jobcommon.models import Progress, utcnow

if TYPE_CHECKING:
    from jobcommon.store import JobStore


class ProgressReporter:
    """Coalesces progress updates: at most one write per `interval`; the latest value always lands.

    yt-dlp can report every few milliseconds; writing each would flood Redis and every listener. An update
    inside the window is held and written when the window closes; `flush()` writes whatever is held at once.
    """

    def __init__(self, store: JobStore, task_id: str, interval: float, run_id: str = "") -> None:
        self.store = store
        self._task_id = task_id
        self._run_id = run_id
        self._interval = interval
        self._pending: Progress | None = None
        self._last_write = float("-inf")
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.latest = Progress()

    async def update(self, percent: float | None = None, message: str = "", **fields: Any) -> None:
        if percent is not None:
            percent = min(100.0, max(0.0, percent))
        self.latest = Progress(percent=percent, message=message, updated_at=utcnow(), **fields)
        self._pending = self.latest
        wait = self._last_write + self._interval - time.monotonic()
        if wait <= 0:
            await self._write()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._write_after(wait))

    async def flush(self) -> None:
        """Write the held update now (called when the job ends, so the final update is never dropped)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self._write()

    async def _write_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._timer = None
        await self._write()

    async def _write(self) -> None:
        async with self._lock:
            progress, self._pending = self._pending, None
            if progress is None:
                return
            self._last_write = time.monotonic()
            await self.store.report_progress(self._task_id, progress, run_id=self._run_id)
