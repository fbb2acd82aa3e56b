"""Per-key submission rate limit, shared by every gateway replica: GCRA (a token bucket without a refill task)
in one Lua script on Redis's clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobcommon import keys

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - interval * (burst - 1) - now
if wait > 0 then return tostring(wait) end
tat = tat + interval
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
return '0'
"""
"""Allow when the theoretical arrival time is within `burst` intervals of now; answers the seconds to wait."""


class SubmitRateLimit:
    """At most `per_s` submissions a second per key on average, `burst` at once."""

    def __init__(self, redis: Redis, *, per_s: float, burst: int) -> None:
        self.interval = 1.0 / per_s
        self.burst = burst
        self._script: AsyncScript = redis.register_script(GCRA_LUA)

    async def wait_s(self, key_id: str) -> float:
        """0 if this submission may go ahead (and counts it), else the seconds until one may."""
        answer = await self._script(keys=[keys.submit_rate(key_id)], args=[self.interval, self.burst])
        return float(answer)
