"""What the metadata handlers share for the life of the service: the info lookup (Redis cache + yt-dlp
children), the file prober (thread pool) and the hosts' shared rate limits. Built once by
`metadata.app.build`, closed on shutdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from jobcommon import HostLimits, provided
from jobcommon.host_limits import ANY_HOST, HostRule
from metadata.cache import InfoCache
from metadata.info_pool import InfoPool
from metadata.info_protocol import ChildConfig
from metadata.lookup import InfoLookup
from metadata.musicbrainz import MusicBrainz
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
        self.host_limits = HostLimits(redis, with_musicbrainz_rule(settings))
        self.music = MusicBrainz(
            api_url=settings.musicbrainz_url,
            cover_url=settings.coverart_url,
            user_agent=settings.musicbrainz_user_agent,
            timeout_s=settings.musicbrainz_timeout_s,
            min_score=settings.musicbrainz_min_score,
            limits=self.host_limits,
        )

    async def start(self) -> None:
        self.pool.prewarm()

    async def close(self) -> None:
        await self.music.close()
        await self.pool.close()
        self.prober.close()


def with_musicbrainz_rule(settings: MetadataSettings) -> list[HostRule]:
    """RATE_LIMITS, plus MusicBrainz's own rule (one request a second) unless a rule names its host."""
    rules = list(settings.rate_limits)
    host = (urlsplit(settings.musicbrainz_url).hostname or "").rstrip(".")
    named = [r for r in rules if r.host != ANY_HOST and r.covers(host)]
    if host and not named:
        rules.append(HostRule(host, 1.0, "1/s"))
    return rules


Runtime = Annotated[MetadataRuntime, provided("runtime")]
"""Handler parameter: the runtime `metadata.app.build` created."""
