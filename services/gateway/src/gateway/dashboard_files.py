"""Image files a finished job wrote, for the dashboard's thumbnails: GET /ui/jobs/{task_id}/file?path=...

Read-only and narrow: the job must be visible to the caller; `path` must be a file path the job's *result*
names that its *request* does not; it must resolve (symlinks included) inside the job's own output dir,
MEDIA_ROOT/<task id>/ (a result can hold text a remote site chose, e.g. a video's title naming another job's
file), and be an image by its suffix.
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
from jobcommon.media_dirs import output_dir

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


def confined_file(media_root: Path, task_id: str, path: str) -> Path | None:
    """`path` (relative to MEDIA_ROOT, or absolute inside it) resolved, if it is a file inside the output dir
    of job `task_id`."""
    root = media_root.resolve()
    own = output_dir(root, task_id)
    candidate = (root / path).resolve()
    inside = candidate.is_relative_to(own) and candidate != own
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
    found = await asyncio.to_thread(confined_file, client.settings.media_root, job.task_id, path)
    if found is None:
        return problem_response(404, detail="the file is not (or no longer) in this job's output dir")
    return FileResponse(
        found,
        media_type=media_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"},
    )
