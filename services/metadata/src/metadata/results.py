"""What the metadata jobs return (stored as the job's `result`) and record per item."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from jobcommon import ItemError
from metadata.probe import FileInfo
from metadata.source_info import SourceInfo

# Runtime imports above on purpose: pydantic resolves the models' annotations.


class VideoInfoResult(SourceInfo):
    """`video_info`: what the source says, and where the answer came from."""

    url: str = Field(description="The URL as submitted.")
    normalized_url: str = Field(description="The cache identity of the URL.")
    cached: bool = Field(description="True when served from the cache rather than extracted now.")
    cached_at: datetime = Field(description="When the info was extracted.")


class EnrichedItem(BaseModel):
    """The result of one item of a `metadata_enrich` job (an `ItemRecord`'s `result`)."""

    model_config = ConfigDict(frozen=True)

    source: VideoInfoResult | None = Field(
        default=None, description="URLs, and outputs of download jobs: what the source says."
    )
    file: FileInfo | None = Field(default=None, description="Files: the technical probe.")
    source_error: ItemError | None = Field(
        default=None, description="A file whose source could not be looked up (the item still succeeds)."
    )
