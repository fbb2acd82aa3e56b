"""One leader among the janitor replicas: a Redis lock with a TTL, renewed by its holder.

A replica takes the lock with `SET key <instance> NX PX <ttl>`; the holder renews it every third of the TTL
with an atomic compare-and-pexpire (only while the value is still its own). A leader that dies stops renewing:
the lock expires and another replica takes it at its next attempt (within ttl + ttl/3). A leader that stops
cleanly deletes the lock, only if it still holds it (compare-and-delete), so another takes over at once.

A leader that cannot reach Redis keeps acting as leader only until the lock it last renewed would have expired
(measured from before the renewal was sent), so two replicas never both believe they lead.

Why not redis-py's `Lock`: it keeps the token only once its own `acquire` saw the reply, so after a take whose
reply was lost (a Redis restart, a timeout) it can neither renew nor release the lock this replica in fact
holds — the others would wait out a whole TTL; and its `extend`/`reacquire` raise rather than answer "not
yours", where renew-or-take is one step here. Taking (`SET NX PX`), compare-and-pexpire and compare-and-delete
by this replica's name are the same three commands its Lua does; the validity window is ours either way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from jobcommon import keys
from jobcommon.cancellation import cancel_and_wait, reraise_if_cancelling

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

log = logging.getLogger("mediajobs.janitor.leader")

RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
"""Compare-and-pexpire: extend the lock only while it is still this instance's."""

RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
"""Compare-and-delete: drop the lock only while it is still this instance's."""


class LeaderLock:
    """Keeps trying to hold `key` (as `instance`); `is_leader` says whether this replica leads right now."""

    def __init__(self, redis: Redis, instance: str, ttl_s: float, *, key: str = keys.JANITOR_LEADER) -> None:
        self.redis = redis
        self.instance = instance
        self.ttl_s = ttl_s
        self.key = key
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._renew: AsyncScript = redis.register_script(RENEW_LUA)
        self._release: AsyncScript = redis.register_script(RELEASE_LUA)
        self._held = False
        self._valid_until = 0.0
        self._leading = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        """Held, and not longer than the lock can have lived since its last confirmed renewal."""
        return self._held and time.monotonic() < self._valid_until

    @property
    def interval_s(self) -> float:
        """How often the holder renews and the others try to take over."""
        return self.ttl_s / 3

    async def wait_until_leader(self) -> None:
        """Return once this replica leads (at once if it does)."""
        while not self.is_leader:
            if self._leading.is_set():  # held, but its validity ran out while a renewal is in flight
                await asyncio.sleep(min(0.05, self.interval_s))
            else:
                await self._leading.wait()

    async def step(self) -> bool:
        """One attempt: renew the lock when held, else try to take it. Returns whether this replica leads."""
        sent = time.monotonic()
        held = self._held
        try:
            async with asyncio.timeout(self._attempt_timeout(sent)):
                if held:  # renew; if it lapsed meanwhile and nobody took it, take it again
                    ok = await self._renew_own() or await self._take()
                else:  # take it; or renew it if it is ours already (e.g. a lost reply to an earlier take)
                    ok = await self._take() or await self._renew_own()
        except (RedisError, OSError, TimeoutError) as exc:
            reraise_if_cancelling(exc)
            if self._held and time.monotonic() >= self._valid_until:
                self._set(held=False, reason=f"could not renew the lock: {exc}")
            elif not self._held:
                log.debug("could not try for leadership: %s", exc)
            return self.is_leader
        if ok:
            self._valid_until = sent + self.ttl_s
            self._set(held=True, reason="")
        else:
            self._set(held=False, reason="another replica holds the lock")
        return self.is_leader

    async def _take(self) -> bool:
        return bool(await self.redis.set(self.key, self.instance, nx=True, px=self._ttl_ms))

    async def _renew_own(self) -> bool:
        return bool(await self._renew(keys=[self.key], args=[self.instance, self._ttl_ms]))

    def _attempt_timeout(self, now: float) -> float:
        if self._held:
            return max(0.01, self._valid_until - now)
        return max(0.5, self.interval_s)

    def _set(self, *, held: bool, reason: str) -> None:
        if held and not self._held:
            log.info("became leader (lock %s, ttl %g s)", self.key, self.ttl_s)
            self._leading.set()
        elif not held and self._held:
            log.warning("lost leadership: %s", reason)
            self._leading.clear()
        self._held = held

    async def run_forever(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(self.interval_s)

    async def start(self) -> None:
        """Try for the lock at once, then keep renewing / retrying in the background."""
        await self.step()
        self._task = asyncio.create_task(self.run_forever())

    async def stop(self) -> None:
        """Stop renewing and give up the lock (if still held), so another replica takes over at once."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        was_held, self._held = self._held, False
        self._leading.clear()
        try:  # also when not believed held: a take or renew whose reply was lost may have left it ours
            released = await self._release(keys=[self.key], args=[self.instance])
        except (RedisError, OSError) as exc:
            reraise_if_cancelling(exc)
            if was_held:
                log.warning("could not release the leader lock (%s); it expires in %g s", exc, self.ttl_s)
        else:
            if released:
                log.info("released leadership")
