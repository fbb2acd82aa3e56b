"""Requests of the `metadata` queue."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from jobcommon.job_types import job_type
from jobcommon.policies import JobPolicy
from jobcommon.priorities import Priority
from jobcommon.queues import QUEUES, Queue
from jobcommon.requests.base import MAX_URL_LENGTH, TASK_ID, JobRequestBase, http_url, media_source
from jobcommon.requests.safe_text import safe_text

MAX_ENRICH_ITEMS = 10_000


def enrich_item(value: str) -> str:
    """Validator: an http(s) URL, a path relative to MEDIA_ROOT, or the task id of a finished job."""
    value = value.strip()
    if "://" in value:
        return http_url(value)
    return media_source(value)


EnrichItem = Annotated[str, Field(max_length=MAX_URL_LENGTH), AfterValidator(enrich_item)]
"""One item of a bulk metadata job (a bad one is reported by its index: `items.3`)."""


@job_type(
    queue=QUEUES[Queue.METADATA],
    policy=JobPolicy(
        max_attempts=3, backoff_base_s=2.0, backoff_cap_s=120.0, soft_limit_s=120.0, hard_limit_s=150.0
    ),
    priority=Priority.HIGH,  # seconds of work someone is usually waiting for (a page showing a video)
)
class VideoInfoRequest(JobRequestBase):
    """Extract a video's metadata with yt-dlp without downloading it; cached by normalized URL. High
    priority by default."""

    job_type: Literal["video_info"] = "video_info"
    url: str = Field(max_length=MAX_URL_LENGTH)
    refresh: bool = Field(default=False, description="Bypass the cache (the fresh result replaces it).")

    _check_url = field_validator("url")(http_url)


@job_type(
    queue=QUEUES[Queue.METADATA],
    policy=JobPolicy(
        max_attempts=3, backoff_base_s=5.0, backoff_cap_s=300.0, soft_limit_s=3600.0, hard_limit_s=3700.0
    ),
    priority=Priority.LOW,  # a batch nobody watches item by item: single lookups go first
)
class MetadataEnrichRequest(JobRequestBase):
    """Enrich many items at once: each an http(s) URL, a path relative to MEDIA_ROOT, or a finished job's
    task id (its output file). Items may fail without failing the rest. Low priority by default."""

    job_type: Literal["metadata_enrich"] = "metadata_enrich"
    items: list[EnrichItem] = Field(
        default_factory=list,
        max_length=MAX_ENRICH_ITEMS,
        validate_default=True,
        description="URLs, MEDIA_ROOT-relative paths or task ids; left out only in a follow-up (`then`), "
        "which takes its parent's output.",
    )
    concurrency: int = Field(default=4, ge=1, le=32, description="Items enriched at once.")
    refresh: bool = Field(default=False, description="Bypass the video info cache for URLs.")

    @field_validator("items")
    @classmethod
    def _some_items(cls, value: list[str]) -> list[str]:
        if not value:  # a follow-up's are filled with its parent before it is validated
            raise ValueError(
                "give at least one item (a URL, a MEDIA_ROOT-relative path or a finished job's task id); "
                "only a follow-up in `then` leaves it out, to take its parent's output"
            )
        return value


def task_id_source(value: str) -> str:
    """Validator: the task id of a finished job (`video_info`, a download) to take artist and title from."""
    if not TASK_ID.match(value):
        raise ValueError("a source here is the task id of a finished video_info or download job")
    return value


@job_type(
    queue=QUEUES[Queue.METADATA],
    policy=JobPolicy(
        max_attempts=5, backoff_base_s=5.0, backoff_cap_s=300.0, soft_limit_s=120.0, hard_limit_s=150.0
    ),
)
class MusicLookupRequest(JobRequestBase):
    """Find a music video's recording on MusicBrainz: its recording, artists, release, ISRCs and MBIDs, and
    the release's cover from the Cover Art Archive (saved as the job's output). Give `title` (and best
    `artist`), or `sources`: a finished `video_info` or download job whose title ("Artist - Song (Official
    Video)") and uploader say what to look for; as a follow-up (`then: [{"job_type": "music_lookup"}]`) the
    parent is the source."""

    job_type: Literal["music_lookup"] = "music_lookup"
    artist: str | None = Field(default=None, min_length=1, max_length=200)
    title: str | None = Field(default=None, min_length=1, max_length=300)
    sources: list[Annotated[str, AfterValidator(task_id_source)]] = Field(
        default_factory=list,
        max_length=1,
        description="Empty in a follow-up: the parent job. Else at most one finished job's task id.",
    )
    cover: bool = Field(default=True, description="Also fetch the release's front cover (250 px).")

    @field_validator("artist", "title")
    @classmethod
    def _readable_name(cls, value: str | None) -> str | None:
        """No control, invisible or bidi characters (as in a download's title): the names are shown, logged
        and sent to MusicBrainz."""
        return None if value is None else safe_text(value)

    @model_validator(mode="after")
    def _something_to_look_for(self) -> Self:
        if self.title is None and not self.sources:  # a follow-up's source is filled before it is validated
            raise ValueError(
                "give a title (and best an artist), or sources: a finished video_info or download job; "
                "only a follow-up in `then` leaves both out, to take its parent"
            )
        return self
