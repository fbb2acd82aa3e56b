"""Per-key submission rate limit, shared by every gateway replica (`jobcommon.gcra`, on Redis's clock)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobcommon import keys
from jobcommon.gcra import Gcra, Rate

if TYPE_CHECKING:
    from redis.asyncio import Redis


class SubmitRateLimit:
    """At most `per_s` submissions a second per key on average, `burst` at once."""

    def __init__(self, redis: Redis, *, per_s: float, burst: int) -> None:
        self.rate = Rate(per_s, burst)
        self._gcra = Gcra(redis)

    async def wait_s(self, key_id: str) -> float:
        """0 if this submission may go ahead (and counts it), else the seconds until one may."""
        return await self._gcra.check(keys.submit_rate(key_id), self.rate)
