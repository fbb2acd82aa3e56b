"""What the metadata handlers share for the life of the service: the info lookup (Redis cache + yt-dlp
children), the file prober (thread pool) and the hosts' shared rate limits. Built once by
`metadata.app.build`, closed on shutdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from jobcommon import HostLimits, provided
from metadata.cache import InfoCache
from metadata.info_pool import InfoPool
from metadata.info_protocol import ChildConfig
from metadata.lookup import InfoLookup
from metadata.probe import Prober

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from metadata.settings import MetadataSettings


class MetadataRuntime:
    def __init__(self, settings: MetadataSettings, redis: Redis) -> None:
        self.settings = settings
        self.pool = InfoPool(
            ChildConfig(
                allow_private_networks=settings.download_allow_private_networks,
                allowed_networks=list(settings.download_allowed_networks),
                socket_timeout=settings.metadata_socket_timeout_s,
                playlist_preview=settings.metadata_playlist_preview,
            ),
            timeout_s=settings.metadata_extract_timeout_s,
            max_children=settings.metadata_max_extractors,
            max_idle=settings.metadata_idle_extractors,
            idle_s=settings.metadata_extractor_idle_s,
            max_uses=settings.metadata_extractor_max_uses,
        )
        self.lookup = InfoLookup(InfoCache(redis, settings.metadata_info_cache_ttl_s), self.pool)
        self.prober = Prober(settings.media_root, settings.metadata_probe_threads)
        self.host_limits = HostLimits(redis, settings.rate_limits)

    async def start(self) -> None:
        self.pool.prewarm()

    async def close(self) -> None:
        await self.pool.close()
        self.prober.close()


Runtime = Annotated[MetadataRuntime, provided("runtime")]
"""Handler parameter: the runtime `metadata.app.build` created."""
