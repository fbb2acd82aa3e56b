"""Requests of the `video_downloads` queue."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field, field_validator

from jobcommon.requests.base import MAX_URL_LENGTH, JobRequestBase, StrictModel, http_url


class DownloadOptions(StrictModel):
    """yt-dlp options a caller may set for one download."""

    format: str | None = Field(
        default=None, max_length=500, description="yt-dlp format selector, e.g. 'best[height<=720]'."
    )


class VideoDownloadRequest(JobRequestBase):
    """Download one video with yt-dlp into MEDIA_ROOT/<task_id>/."""

    job_type: Literal["video_download"] = "video_download"
    url: str = Field(
        max_length=MAX_URL_LENGTH, description="http(s) URL of a video or of a page embedding one."
    )
    options: DownloadOptions = Field(default_factory=DownloadOptions)
    allow_duplicate: bool = Field(
        default=False, description="Run even if the same URL and options are already queued or running."
    )

    _check_url = field_validator("url")(http_url)

    def duplicate_fingerprint(self) -> str | None:
        if self.allow_duplicate:
            return None
        work = {"url": self.url, "options": self.options.model_dump(mode="json")}
        return hashlib.sha256(json.dumps(work, sort_keys=True).encode()).hexdigest()


class PlaylistDownloadRequest(JobRequestBase):
    """Download every entry of a playlist (RSS/XSPF feed, a page with several videos, …) as one
    `video_download` child job per entry, at most `concurrency` at a time; the parent reports entries done /
    failed / total and ends when the last child ends. Cancelling the parent cancels its children."""

    job_type: Literal["playlist_download"] = "playlist_download"
    url: str = Field(max_length=MAX_URL_LENGTH)
    options: DownloadOptions = Field(default_factory=DownloadOptions, description="Applied to every entry.")
    concurrency: int = Field(default=3, ge=1, le=50, description="Entries downloaded at once.")
    limit: int | None = Field(default=None, ge=1, le=100_000, description="At most this many entries.")
    items: str | None = Field(
        default=None,
        pattern=r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$",
        description="Which entries, 1-based: e.g. '1-10' or '1,3,5-7'.",
    )

    _check_url = field_validator("url")(http_url)
