"""Rate limits shared by every process through Redis: GCRA (a token bucket without a refill task) in Lua on
Redis's clock (`lua/lib_gcra.lua`). Services that fetch take turns at it per remote host (`Gcra.turn`,
`jobcommon.host_limits`); the gateway's per-key submission limit is checked by the step that creates a job
(`jobcommon.admission`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobcommon.scripts import lua_plain

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_s` calls a second on average, `burst` of them at once."""

    per_s: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_s <= 0 or self.burst < 1:
            raise ValueError(f"a rate needs per_s > 0 and burst >= 1 (got {self.per_s}, {self.burst})")

    @property
    def interval_s(self) -> float:
        return 1.0 / self.per_s


class Gcra:
    """The limiter script, loaded once per Redis client."""

    def __init__(self, redis: Redis) -> None:
        self._script: AsyncScript = redis.register_script(lua_plain("gcra", "lib_gcra"))

    async def turn(self, key: str, booking: str, member: str, rate: Rate, *, hold_over: float) -> float:
        """The seconds until `member`'s turn (0: now). Every call counts; a wait longer than `hold_over` is
        booked in `booking`, so that `member` asking again answers from its booking, not with a new turn."""
        answer = await self._script(
            keys=[key, booking], args=[rate.interval_s, rate.burst, hold_over, member]
        )
        return float(answer)
