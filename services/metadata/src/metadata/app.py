"""The metadata service: consumes the `metadata` queue (`video_info`, `metadata_enrich`)."""

from __future__ import annotations

from jobcommon import JobService, Queue
from metadata.enrich import metadata_enrich
from metadata.runtime import MetadataRuntime, install
from metadata.settings import MetadataSettings, metadata_settings
from metadata.video_info import video_info


def build(settings: MetadataSettings | None = None) -> JobService:
    settings = settings or metadata_settings()
    service = JobService("metadata", Queue.METADATA, settings)
    runtime = MetadataRuntime(settings, service.redis)
    install(runtime)
    service.handler("video_info")(video_info)
    service.handler("metadata_enrich")(metadata_enrich)
    service.app.after_startup(runtime.start)
    service.app.on_shutdown(runtime.close)
    return service
