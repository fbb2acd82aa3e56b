"""The metadata service: consumes the `metadata` queue (`video_info`, `metadata_enrich`, `music_lookup`)."""

from __future__ import annotations

from jobcommon import JobService, MetadataEnrichRequest, MusicLookupRequest, Queue, VideoInfoRequest
from jobcommon.provide import provide
from metadata.enrich import metadata_enrich
from metadata.music_lookup import music_lookup
from metadata.runtime import MetadataRuntime
from metadata.settings import MetadataSettings
from metadata.video_info import video_info


def build(settings: MetadataSettings | None = None) -> JobService:
    """The service; its handlers receive `settings` (default: from the environment) and one runtime."""
    settings = settings or MetadataSettings()
    service = JobService("metadata", Queue.METADATA, settings)
    runtime = MetadataRuntime(settings, service.redis)
    provide(service, settings=settings, runtime=runtime)
    service.handler(VideoInfoRequest)(video_info)
    service.handler(MetadataEnrichRequest)(metadata_enrich)
    service.handler(MusicLookupRequest)(music_lookup)
    service.app.after_startup(runtime.start)
    service.app.on_shutdown(runtime.close)
    return service
