"""Metadata service settings (environment variables)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from jobcommon import NetworkGuardSettings, WorkerSettings, provided


class MetadataSettings(WorkerSettings, NetworkGuardSettings):
    metrics_port: int = Field(
        default=9102, ge=0, le=65535, description="Port of the Prometheus endpoint (/metrics); 0: off."
    )
    metadata_socket_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a silent connection may block before yt-dlp gives up on it."
    )
    metadata_extract_timeout_s: float = Field(
        default=60.0, gt=0, description="Longest one URL's extraction may take; its process is killed then."
    )
    metadata_info_cache_ttl_s: int = Field(
        default=24 * 3600, gt=0, le=30 * 86400, description="How long extracted video info is cached."
    )
    metadata_playlist_preview: int = Field(
        default=10, ge=0, le=100, description="Playlist entries listed (title, url) in a playlist's info."
    )
    metadata_max_extractors: int = Field(
        default=8, ge=1, le=256, description="yt-dlp child processes at most (started one at a time)."
    )
    metadata_idle_extractors: int = Field(
        default=2, ge=0, le=64, description="yt-dlp child processes kept warm between extractions."
    )
    metadata_extractor_idle_s: float = Field(
        default=60.0, gt=0, description="A warm yt-dlp child unused this long is stopped."
    )
    metadata_extractor_max_uses: int = Field(
        default=200, ge=1, description="Extractions one yt-dlp child serves before it is replaced."
    )
    metadata_probe_threads: int = Field(
        default=4, ge=1, le=64, description="Threads probing local files (OpenCV, Pillow) at once."
    )
    metadata_item_retries: int = Field(
        default=1, ge=0, le=5, description="Bulk jobs: retries of an item that failed transiently."
    )
    metadata_item_retry_delay_s: float = Field(
        default=1.0, ge=0, le=60, description="Bulk jobs: pause before an item's retry (times its number)."
    )
    musicbrainz_url: str = Field(
        default="https://musicbrainz.org/ws/2", description="MusicBrainz's web service (WS/2) base URL."
    )
    coverart_url: str = Field(default="https://coverartarchive.org", description="The Cover Art Archive.")
    musicbrainz_user_agent: str = Field(
        default="mediajobs/0.1 ( https://github.com/mediajobs/mediajobs )",
        min_length=1,
        description="Sent to MusicBrainz, which asks for 'Application/version ( contact )': put yours in.",
    )
    musicbrainz_timeout_s: float = Field(default=15.0, gt=0, description="One MusicBrainz request at most.")
    musicbrainz_min_score: int = Field(
        default=85, ge=0, le=100, description="A recording scoring less (0-100) is no match."
    )
    metadata_music_cache_ttl_s: int = Field(
        default=7 * 86400, gt=0, le=90 * 86400, description="How long a MusicBrainz answer is cached."
    )


Settings = Annotated[MetadataSettings, provided("settings")]
"""Handler parameter: the settings `metadata.app.build` was given."""
