"""Image files a finished job wrote, for the dashboard's thumbnails: GET /ui/jobs/{task_id}/file?path=...

Read-only and narrow: the job must be visible to the caller; `path` must be a file path the job's *result*
names that its *request* does not (so a job cannot be made to echo back some other owner's path); it must
resolve inside MEDIA_ROOT (symlinks included) and be an image by its suffix.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse

from gateway.problems import problem_response
from gateway.routes import Client, ExistingJob

IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".avif": "image/avif",
}

router = APIRouter()


def _strings(value: Any) -> Iterator[str]:
    """Every string in JSON-like data (no recursion limit needed: job records are bounded in depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def confined_file(media_root: Path, path: str) -> Path | None:
    """`path` (relative to MEDIA_ROOT, or absolute inside it) resolved, if it is a file inside MEDIA_ROOT."""
    root = media_root.resolve()
    candidate = (root / path).resolve()
    inside = candidate.is_relative_to(root) and candidate != root
    return candidate if inside and candidate.is_file() else None


@router.get("/jobs/{task_id}/file", response_model=None)
async def job_file(
    job: ExistingJob, client: Client, path: Annotated[str, Query(min_length=1, max_length=4096)]
) -> Response:
    media_type = IMAGE_TYPES.get(Path(path).suffix.lower())
    if media_type is None:
        return problem_response(422, detail="only image files are served here")
    if path not in set(_strings(job.result)) or path in set(_strings(job.request)):
        return problem_response(404, detail="this job's result names no such file")
    found = await asyncio.to_thread(confined_file, client.settings.media_root, path)
    if found is None:
        return problem_response(404, detail="the file is not (or no longer) under MEDIA_ROOT")
    return FileResponse(
        found,
        media_type=media_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"},
    )
