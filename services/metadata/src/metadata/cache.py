"""The video info cache: one Redis string per normalized URL (`keys.info_cache`), JSON, with a TTL.

Only successful extractions are cached. An entry that no longer parses (an older format) counts as a miss and
is overwritten by the next extraction.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from jobcommon import keys, utcnow
from metadata.source_info import SourceInfo

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("mediajobs.metadata")


class CachedInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    normalized_url: str
    cached_at: datetime
    info: SourceInfo


class InfoCache:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def get(self, url_hash: str) -> CachedInfo | None:
        raw = await self.redis.get(keys.info_cache(url_hash))
        if raw is None:
            return None
        try:
            return CachedInfo.model_validate_json(raw)
        except ValidationError:
            log.warning("ignoring an unreadable info cache entry %s", url_hash)
            return None

    async def put(self, url_hash: str, normalized_url: str, info: SourceInfo) -> CachedInfo:
        entry = CachedInfo(normalized_url=normalized_url, cached_at=utcnow(), info=info)
        await self.redis.set(
            keys.info_cache(url_hash), entry.model_dump_json(exclude_none=True), ex=self.ttl_s
        )
        return entry
