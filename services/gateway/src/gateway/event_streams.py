"""How many Server-Sent Event streams a gateway process holds open: at most `per_key` for one API key and
`total` in all, so one client cannot tie up every connection (each open stream costs a listener queue)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from jobcommon.errors import RateLimited


class EventStreams:
    def __init__(self, *, per_key: int, total: int) -> None:
        self.per_key = per_key
        self.total = total
        self.open: Counter[str] = Counter()

    def admit(self, key_id: str) -> Callable[[], None]:
        """Take one stream for `key_id` (RateLimited, a 429, past either cap) — before the response starts —
        and return what gives it back (called when the stream ends)."""
        if sum(self.open.values()) >= self.total:
            raise RateLimited(f"this gateway already serves {self.total} event streams", retry_after_s=5)
        if self.open[key_id] >= self.per_key:
            raise RateLimited(f"at most {self.per_key} event streams per API key", retry_after_s=5)
        self.open[key_id] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.open[key_id] -= 1
                if not self.open[key_id]:
                    del self.open[key_id]

        return release
