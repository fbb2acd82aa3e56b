"""What the metadata jobs return (stored as the job's `result`) and record per item."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from metadata.probe import FileInfo
from metadata.source_info import SourceInfo


class VideoInfoResult(SourceInfo):
    """`video_info`: what the source says, and where the answer came from."""

    url: str = Field(description="The URL as submitted.")
    normalized_url: str = Field(description="The cache identity of the URL.")
    cached: bool = Field(description="True when served from the cache rather than extracted now.")
    cached_at: datetime = Field(description="When the info was extracted.")


class ItemError(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    message: str
    retryable: bool = False


class EnrichedItem(BaseModel):
    """One item of a `metadata_enrich` job, recorded as soon as it is done (GET /jobs/{id}/items)."""

    model_config = ConfigDict(frozen=True)

    index: int
    item: str
    ok: bool
    source: VideoInfoResult | None = Field(
        default=None, description="URLs, and outputs of download jobs: what the source says."
    )
    file: FileInfo | None = Field(default=None, description="Files: the technical probe.")
    source_error: ItemError | None = Field(
        default=None, description="A file whose source could not be looked up (the item still succeeds)."
    )
    error: ItemError | None = None
    attempts: int = 1


class FailedItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    item: str
    type: str
    message: str


class EnrichSummary(BaseModel):
    """`metadata_enrich`: counts only; the per-item results are paged at GET /jobs/{id}/items."""

    model_config = ConfigDict(frozen=True)

    total: int
    succeeded: int
    failed: int
    errors: list[FailedItem] = Field(description="The first failures (in completion order), at most 10.")
