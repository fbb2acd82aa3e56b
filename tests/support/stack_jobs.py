"""Helpers for tests that run jobs on the running stack (`tests.conftest.stack`) over files of their own."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tests.jobs import submit, wait_terminal

if TYPE_CHECKING:
    from pathlib import Path

    import httpx


def fresh_folder(media_root: Path, prefix: str) -> str:
    """A new, empty folder under MEDIA_ROOT; its path relative to MEDIA_ROOT."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    (media_root / name).mkdir()
    return name


async def failed_permanently(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """Submit `body`, wait for the end, and check that the job failed at its first attempt."""
    job = await wait_terminal(api, (await submit(api, body))["task_id"])
    assert job["status"] == "failed", job
    assert job["attempts"] == 1, "a permanent failure is never retried"
    return job


def download_with_follow_ups(url: str) -> dict[str, Any]:
    """A `video_download` of `url` with `then` thumbnail (160 and 320 px, webp) and metadata enrichment."""
    return {
        "job_type": "video_download",
        "url": url,
        "allow_duplicate": True,
        "then": [
            {"job_type": "thumbnail", "sizes": [160, 320], "format": "webp"},
            {"job_type": "metadata_enrich"},
        ],
    }
