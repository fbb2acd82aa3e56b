"""Liveness: proof that a worker process lives, written from a thread so a busy event loop cannot fake death.

Each consuming process keeps `mj:alive:<consumer>` alive (every `liveness_interval_s`, expiring after
`liveness_ttl_s`). The writes come from a daemon thread with its own blocking Redis connection: a handler that
blocks the event loop for seconds (CPU-heavy work done in the wrong place) delays its own job, but its worker
still proves it lives and keeps its jobs. A killed process (kill -9, OOM, a lost machine) stops writing at
once, and `Upkeep` requeues the deliveries of a consumer whose key has expired
(`JobStore.reclaim_orphans`): recovery in seconds, with the lease (`lease_s`, renewed from the event loop)
as the second line of defence for a process that lives but is wedged.
"""

from __future__ import annotations

import logging
import threading

from redis import Redis
from redis.exceptions import RedisError

from jobcommon import keys

log = logging.getLogger("mediajobs.liveness")

RETRY_AFTER_FAILURE_S = 0.1
"""How soon a failed beat is tried again."""


class LivenessBeacon:
    """Keeps one consumer's liveness key alive from a background thread while the process runs."""

    def __init__(self, redis_url: str, consumer: str, *, interval_s: float, ttl_s: float) -> None:
        if ttl_s <= interval_s:
            raise ValueError("the liveness TTL must outlast the interval between beats")
        self.key = keys.alive(consumer)
        self._interval_s = interval_s
        self._ttl_ms = int(ttl_s * 1000)
        timeout = max(0.5, min(interval_s, ttl_s - interval_s))
        self._redis = Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
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
            self._redis.set(self.key, "1", px=self._ttl_ms)
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
