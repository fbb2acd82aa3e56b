"""A token bucket for the bytes yt-dlp reports: the child's end of the total bandwidth limit
(`downloader.bandwidth` divides the total; the parent sends each child its share)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

THROTTLE_BURST_S = 0.25
"""The bandwidth share may be exceeded by this many seconds' worth of bytes at once."""


class Throttle:
    """Paces the bytes yt-dlp reports by sleeping in the progress hook (the download thread).

    The rate can change at any time (another download started or ended); only bytes received from then
    on are paced at the new rate, so neither a long pause nor a catch-up burst follows a change.
    """

    def __init__(
        self,
        rate: int | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        burst_s: float = THROTTLE_BURST_S,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._burst_s = burst_s
        self._due: float | None = None
        self._lock = threading.Lock()

    @property
    def rate(self) -> int | None:
        return self._rate

    def set_rate(self, rate: int | None) -> None:
        with self._lock:
            self._rate = rate

    def consume(self, nbytes: int) -> None:
        with self._lock:
            rate = self._rate
            if not rate or nbytes <= 0:
                self._due = None
                return
            now = self._clock()
            if self._due is None or self._due < now - self._burst_s:
                self._due = now - self._burst_s
            self._due += nbytes / rate
            wait = self._due - now
        if wait > 0:
            self._sleep(wait)
