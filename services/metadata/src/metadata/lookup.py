"""Video info by URL: from the cache when it has it, else extracted by a yt-dlp child and cached.

Concurrent lookups of the same URL in this process wait for one extraction (a bulk job listing one URL many
times extracts it once).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobcommon import utcnow
from jobcommon.tracing import tracer
from metadata.normalize import normalize_url, url_hash

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from datetime import datetime
    from typing import TypeAlias

    from metadata.cache import CachedInfo, InfoCache
    from metadata.info_pool import InfoPool
    from metadata.source_info import SourceInfo

    Turn: TypeAlias = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FoundInfo:
    normalized_url: str
    cached: bool
    """True when served from the cache (extracted by an earlier request)."""
    cached_at: datetime
    """When the info was extracted."""
    info: SourceInfo


class InfoLookup:
    def __init__(self, cache: InfoCache, pool: InfoPool) -> None:
        self.cache = cache
        self.pool = pool
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def info(self, url: str, turn: Turn, *, refresh: bool = False) -> FoundInfo:
        """Raises `InvalidUrlError` (a PermanentError) or `jobcommon.child_process.ChildFailed`. `turn(url)`
        is awaited just before the URL is fetched, by a ready child (not for a cache hit): the host's shared
        rate limit.

        Traced as a `metadata source info` span (`mediajobs.cache.hit`), holding a `metadata extract` span
        when the info is extracted afresh."""
        with tracer.start_as_current_span("metadata source info") as span:
            span.set_attribute("mediajobs.cache.refresh", refresh)
            found = await self._info(url, turn, refresh=refresh)
            span.set_attribute("mediajobs.cache.hit", found.cached)
            return found

    async def _info(self, url: str, turn: Turn, *, refresh: bool) -> FoundInfo:
        normalized = normalize_url(url)
        key = url_hash(normalized)
        asked_at = utcnow()
        if not refresh and (hit := await self.cache.get(key)) is not None:
            return _from_cache(hit)
        async with self._single_flight(key):
            hit = await self.cache.get(key)
            if hit is not None and (not refresh or hit.cached_at >= asked_at):
                return _from_cache(hit)  # extracted by whoever held the lock before us
            with tracer.start_as_current_span("metadata extract"):
                info = await self.pool.extract(url, lambda: turn(url))
            entry = await self.cache.put(key, normalized, info)
        return FoundInfo(normalized, cached=False, cached_at=entry.cached_at, info=info)

    @contextlib.asynccontextmanager
    async def _single_flight(self, key: str) -> AsyncIterator[None]:
        lock, waiters = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, waiters + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiters = self._locks[key]
            if waiters <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, waiters - 1)


def _from_cache(hit: CachedInfo) -> FoundInfo:
    return FoundInfo(hit.normalized_url, cached=True, cached_at=hit.cached_at, info=hit.info)
