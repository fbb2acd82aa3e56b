"""Liveness: proof that a worker process lives, written from a thread so a busy event loop cannot fake death.

Each consuming process keeps `mj:alive:<consumer>` alive (every `liveness_interval_s`, expiring after
`liveness_ttl_s`). The writes come from a daemon thread with its own blocking Redis connection: a handler that
blocks the event loop for seconds (CPU-heavy work done in the wrong place) delays its own job, but its worker
still proves it lives and keeps its jobs. A killed process (kill -9, OOM, a lost machine) stops writing at
once, and `Upkeep` requeues the deliveries of a consumer whose key has expired
(`JobStore.reclaim_orphans`): recovery in seconds, with the lease (`lease_s`, renewed from the event loop)
as the second line of defence for a process that lives but is wedged.

The key's value is when (Redis's clock, ms) its beats began to come without a break (`lua/beat.lua`): a
key that expired, or a beat more than `BREAK_AFTER_BEATS` intervals late, starts the run again. Upkeep takes
a live process's job for an expired lease only from a process whose run is a lease long (`JobStore.reclaim`):
Redis then answered that process all along, and its event loop, which renews every third of a lease, did
not. After a Redis outage (frozen, restarted, unreachable), when nobody could renew, every process so gets a
whole lease to renew again before anything of it is taken. (This holds while a lease outlasts a third of
itself plus `BREAK_AFTER_BEATS` liveness intervals and a renewal's round trip, as the defaults do: 10 s +
1.5 s against 30 s.)
"""

from __future__ import annotations

import logging
import threading

from redis import Redis
from redis.exceptions import RedisError

from jobcommon import keys
from jobcommon.scripts import lua_plain

log = logging.getLogger("mediajobs.liveness")

RETRY_AFTER_FAILURE_S = 0.1
"""How soon a failed beat is tried again."""
BREAK_AFTER_BEATS = 3
"""A beat this many intervals after the one before (two missed in a row) breaks the unbroken run (at most the
TTL: an expired key breaks it anyway)."""


class LivenessBeacon:
    """Keeps one consumer's liveness key alive from a background thread while the process runs."""

    def __init__(self, redis_url: str, consumer: str, *, interval_s: float, ttl_s: float) -> None:
        if ttl_s <= interval_s:
            raise ValueError("the liveness TTL must outlast the interval between beats")
        self.key = keys.alive(consumer)
        self._interval_s = interval_s
        self._ttl_ms = int(ttl_s * 1000)
        self._break_ms = int(min(ttl_s, BREAK_AFTER_BEATS * interval_s) * 1000)
        timeout = max(0.5, min(interval_s, ttl_s - interval_s))
        self._redis = Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._beat = self._redis.register_script(lua_plain("beat"))
        self._stop = threading.Event()
        self._beaten = False
        """Whether the first beat (in `start`) landed."""
        self._thread = threading.Thread(target=self._run, name=f"liveness:{consumer}", daemon=True)

    def start(self) -> None:
        """Beat once (so the key exists before this process reads any message), then keep beating."""
        self._beaten = self.beat()
        self._thread.start()

    def beat(self) -> bool:
        try:
            self._beat(keys=[self.key], args=[self._ttl_ms, self._break_ms])
        except (RedisError, OSError) as exc:
            log.debug("liveness beat failed: %s", exc)
            return False
        return True

    def _run(self) -> None:
        wait = self._interval_s if self._beaten else min(self._interval_s, RETRY_AFTER_FAILURE_S)
        while not self._stop.wait(wait):
            # a failed beat (Redis slow or away, the machine stalled) is tried again soon, not a whole
            # interval later: the key may be about to lapse, and other workers would take this one's jobs
            wait = self._interval_s if self.beat() else min(self._interval_s, RETRY_AFTER_FAILURE_S)

    def stop(self) -> None:
        """Stop beating and remove the key (call after this process handed back its deliveries)."""
        self._stop.set()
        if self._thread.is_alive():
            # wait out a beat in flight (bounded by the socket timeout), however slowly a loaded machine runs
            # the thread: a beat landing after the delete would leave the key, and this process looking alive,
            # for a whole TTL after it stopped
            self._thread.join(timeout=self._ttl_ms / 1000)
        try:
            self._redis.delete(self.key)
        except (RedisError, OSError) as exc:
            log.debug("could not remove the liveness key: %s", exc)
        self._redis.close()
