"""Requests of the `video_downloads` queue."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
    model_validator,
)

from jobcommon.job_types import job_type
from jobcommon.policies import JobPolicy
from jobcommon.queues import QUEUES, Queue
from jobcommon.requests.base import MAX_URL_LENGTH, JobRequestBase, StrictModel, http_url
from jobcommon.requests.playlist_items import MAX_PLAYLIST_INDEX, playlist_selection
from jobcommon.requests.safe_text import safe_text

SUBTITLE_LANGUAGE = r"^-?[A-Za-z0-9][A-Za-z0-9_.*+-]{0,31}$"
"""A yt-dlp subtitle language: a code ('en', 'pt-BR'), a simple regex ('en.*'), 'all', or '-xx' to exclude."""


class DownloadOptions(StrictModel):
    """yt-dlp options a caller may set for one download.

    Either the full `format` selector, or the simple `max_height` / `audio_only`; `container` decides the
    file type of video downloads (streams merged or remuxed into it by ffmpeg, never re-encoded). Extra files
    (subtitles, thumbnail, info JSON) land next to the media file and are listed in the result.
    """

    format: str | None = Field(
        default=None,
        max_length=500,
        description=(
            "yt-dlp format selector, e.g. 'best[height<=?720]' (`<=?` also takes a format whose height is "
            "unknown, as a direct file link's is; `max_height` does that for you)."
        ),
    )
    max_height: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Best video at most this many pixels high (merged with the best audio). Formats whose "
        "height is unknown before downloading (direct file links) are accepted.",
    )
    audio_only: bool = Field(
        default=False,
        description="Keep only the audio: the best audio stream, extracted without re-encoding.",
    )
    container: Literal["mp4", "webm", "mkv"] | None = Field(
        default=None,
        description="File type of a video download: separate streams are merged into it, a single file is "
        "remuxed (fails if the codecs don't fit, e.g. H.264 in webm).",
    )
    subtitles: list[Annotated[str, StringConstraints(pattern=SUBTITLE_LANGUAGE)]] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="Write subtitles in these languages (codes or simple regexes, 'all'; '-xx' excludes).",
    )
    write_thumbnail: bool = Field(default=False, description="Write the video's thumbnail image.")
    write_info_json: bool = Field(default=False, description="Write yt-dlp's metadata as media.info.json.")

    @field_validator("format")
    @classmethod
    def _readable_format(cls, value: str | None) -> str | None:
        """A selector is shown with the job: no control, invisible or bidi characters (none is yt-dlp's)."""
        return None if value is None else safe_text(value)

    @model_serializer(mode="wrap")
    def _only_what_was_chosen(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Serialised without the options left at their defaults: stored requests stay as submitted, and
        the duplicate fingerprint of a request doesn't change when a new option is added."""
        data: dict[str, Any] = handler(self)
        fields = type(self).model_fields
        return {
            key: value for key, value in data.items() if key not in fields or value != fields[key].default
        }

    @model_validator(mode="after")
    def _consistent(self) -> DownloadOptions:
        if self.format is not None:
            clash = [name for name in ("max_height", "audio_only") if getattr(self, name)]
            if clash:
                raise ValueError(
                    f"'format' selects the streams itself; it can't be combined with {' or '.join(clash)}"
                )
        if self.audio_only and self.max_height is not None:
            raise ValueError("'audio_only' has no video, so 'max_height' makes no sense with it")
        if self.audio_only and self.container is not None:
            raise ValueError(
                "'container' is the file type of a video download; 'audio_only' keeps the audio's own type"
            )
        return self


MAX_TITLE_LENGTH = 300
"""Longest title a download may be given."""


@job_type(
    queue=QUEUES[Queue.VIDEO_DOWNLOADS],
    policy=JobPolicy(
        max_attempts=5,
        backoff_base_s=5.0,
        backoff_cap_s=600.0,
        soft_limit_s=2 * 3600.0,
        hard_limit_s=2 * 3600.0 + 300,
    ),
)
class VideoDownloadRequest(JobRequestBase):
    """Download one video with yt-dlp into MEDIA_ROOT/<task_id>/."""

    job_type: Literal["video_download"] = "video_download"
    url: str = Field(
        max_length=MAX_URL_LENGTH, description="http(s) URL of a video or of a page embedding one."
    )
    options: DownloadOptions = Field(default_factory=DownloadOptions)
    title: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TITLE_LENGTH,
        description="The title to give the download (shown, searched, in its result) instead of the one "
        "yt-dlp finds; a playlist's entries carry their feed's titles.",
    )
    allow_duplicate: bool = Field(
        default=False,
        description="Run even if the same download (URL, options, title, follow-ups `then`, retry and "
        "time-limit overrides) is already queued or running.",
    )

    _check_url = field_validator("url")(http_url)

    @field_validator("title")
    @classmethod
    def _readable_title(cls, value: str | None) -> str | None:
        return None if value is None else safe_text(value)

    def duplicate_fingerprint(self) -> str | None:
        """Every field that changes the work or its result: the URL, the options, the title (the result's),
        the follow-ups (were it answered with the live job, its follow-ups would be dropped without a word)
        and the retry and time-limit overrides (another policy may end otherwise: a longer time limit lets
        a long download finish). Left out: when the job runs (`priority`, `run_at`, `delay_s`), not what it
        does. A field at its default is left out, so the fingerprint of a request without it is unchanged."""
        from jobcommon.submission import canonical_follow_ups

        if self.allow_duplicate:
            return None
        work: dict[str, Any] = {"url": self.url, "options": self.options.model_dump(mode="json")}
        if self.title is not None:
            work["title"] = self.title
        if self.then:
            work["then"] = canonical_follow_ups(self.then)
        for name in ("retry", "time_limit"):
            override = getattr(self, name)
            if override is not None and (chosen := override.model_dump(mode="json", exclude_defaults=True)):
                work[name] = chosen
        return hashlib.sha256(json.dumps(work, sort_keys=True).encode()).hexdigest()


@job_type(
    queue=QUEUES[Queue.VIDEO_DOWNLOADS],
    policy=JobPolicy(
        max_attempts=3, backoff_base_s=5.0, backoff_cap_s=300.0, soft_limit_s=600.0, hard_limit_s=660.0
    ),
)
class PlaylistDownloadRequest(JobRequestBase):
    """Download every entry of a playlist (RSS/XSPF feed, M3U list, a page with several videos, …) as one
    `video_download` child job per entry, at most `concurrency` at a time; the parent reports entries done /
    failed / total and ends when the last child ends. Cancelling the parent cancels its children."""

    job_type: Literal["playlist_download"] = "playlist_download"
    url: str = Field(max_length=MAX_URL_LENGTH)
    options: DownloadOptions = Field(default_factory=DownloadOptions, description="Applied to every entry.")
    concurrency: int = Field(default=3, ge=1, le=50, description="Entries downloaded at once.")
    limit: int | None = Field(default=None, ge=1, le=100_000, description="At most this many entries.")
    items: str | None = Field(
        default=None,
        max_length=1000,
        description="Which entries, in yt-dlp's `--playlist-items` syntax: comma-separated parts, each an "
        "index (1 is the first entry, -1 the last), a range 'a-b' or 'a:b' (both ends included, either "
        "left out: from the first / to the last) or a slice 'a:b:step' (a negative step runs backwards); "
        "e.g. '1-10', '1,3,5-7', '-3:', '::2', '2:8:2', '::-1'. Each part must select an entry of some "
        f"playlist; indices are at most {MAX_PLAYLIST_INDEX:,} either way.",
    )

    _check_url = field_validator("url")(http_url)

    @field_validator("items")
    @classmethod
    def _valid_selection(cls, value: str | None) -> str | None:
        """yt-dlp's syntax, each part selecting an entry of some playlist (yt-dlp skips a part selecting none
        without a word: the job would end EmptyPlaylist, or without the entries meant). Kept without
        whitespace, as yt-dlp reads it."""
        return None if value is None else playlist_selection(value)
