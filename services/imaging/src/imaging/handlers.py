"""The four job handlers: resolve each source, run its work in the CPU pool, move the outputs into place.

Each source's work (`imaging.thumbnail`, `.resize`, `.optimize`, `.storyboard`) runs in a pool process and
writes into a scratch directory under the job's temp dir; only when it has finished are its files moved
into the job's output dir (`<task_id>/` for one source, `<task_id>/<index>/` per source of a bulk job).
`BadMedia` from the work becomes a `PermanentError` with the same type and message. Each source is an
`imaging item` span holding the pool work's phases (`imaging.pool_spans`) and the move into place.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from imaging import optimize as optimize_work
from imaging import resize as resize_work
from imaging import storyboard as storyboard_work
from imaging import thumbnail as thumbnail_work
from imaging.bulk import item_dir, run_sources
from imaging.errors import BadMedia
from imaging.pool import CpuPool, Pool
from imaging.results import BulkResult, OptimizeResult, ResizeResult, StoryboardResult, ThumbnailResult
from imaging.settings import ImagingSettings, Settings
from imaging.work import CancelToken, Work
from jobcommon import (
    ImageOptimizeRequest,
    ImageResizeRequest,
    JobContext,
    JobCtx,
    PermanentError,
    StoryboardRequest,
    ThumbnailRequest,
    resolve_source,
)
from jobcommon.tracing import tracer

# Runtime imports above on purpose: FastStream resolves the handlers' annotations when it builds the call.

R = TypeVar("R", bound=BaseModel)
Q = TypeVar("Q", ThumbnailRequest, ImageResizeRequest, ImageOptimizeRequest, StoryboardRequest)
CANCEL_FLAG = ".cancelled"


def _move_outputs(scratch: Path, destination: Path) -> None:
    """Finished files from scratch into the output dir (same filesystem: renames)."""
    destination.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(scratch):
        os.replace(entry.path, destination / entry.name)
    scratch.rmdir()


async def _run_job(
    request: Q, ctx: JobContext, settings: ImagingSettings, pool: CpuPool, render: Callable[[Work, Q], R]
) -> R | BulkResult:
    # This run's own cancel flag and scratch: the job's temp dir outlives a run that comes back (a retry, a
    # hand-back), and a run that lost its lease without noticing yet may still work beside the job's new run.
    run = ctx.temp_dir / f"run-{uuid.uuid4().hex}"
    token = CancelToken(str(run / CANCEL_FLAG))
    total = len(request.sources)
    tuning = settings.tuning()

    async def one(index: int, source: str) -> R:
        with tracer.start_as_current_span("imaging item", attributes={"mediajobs.item.index": index}):
            return await traced_one(index, source)

    async def traced_one(index: int, source: str) -> R:
        path = await resolve_source(ctx.reporter.store, settings.media_root, source, ctx.job.owner)
        sub = item_dir(index, total)
        scratch = run / f"item-{index:04d}"
        scratch.mkdir(parents=True)
        destination = ctx.output_dir / sub if sub else ctx.output_dir
        work = Work(
            source=source,
            path=str(path),
            scratch=str(scratch),
            rel_dir=destination.relative_to(settings.media_root).as_posix(),
            token=token,
            tuning=tuning,
        )
        if total == 1:  # a bulk job's progress is its items; one source's is what it works on
            await ctx.progress(None, f"processing {source}")
        try:
            result = await pool.run(render, work, request, token=token)
        except BadMedia as exc:
            raise PermanentError(exc.message, error_type=exc.error_type) from None
        with tracer.start_as_current_span("imaging move into place"):
            _move_outputs(scratch, destination)
        return result

    try:
        return await run_sources(
            ctx, request.sources, request.concurrency, one, media_root=settings.media_root
        )
    finally:  # what this run left in scratch (a failed item's half-written files); its work stops at once too
        await asyncio.to_thread(shutil.rmtree, run, ignore_errors=True)


async def thumbnail(
    request: ThumbnailRequest, ctx: JobCtx, settings: Settings, pool: Pool
) -> ThumbnailResult | BulkResult:
    """Thumbnails of each source: the sharpest frame of a video (or the one at `at_s`), or the image."""
    return await _run_job(request, ctx, settings, pool, thumbnail_work.render)


async def image_resize(
    request: ImageResizeRequest, ctx: JobCtx, settings: Settings, pool: Pool
) -> ResizeResult | BulkResult:
    """Each source image to every spec (fit / fill / pad), upright, metadata kept or stripped."""
    return await _run_job(request, ctx, settings, pool, resize_work.render)


async def image_optimize(
    request: ImageOptimizeRequest, ctx: JobCtx, settings: Settings, pool: Pool
) -> OptimizeResult | BulkResult:
    """Each source image re-encoded (or converted) with the quality asked; bytes before and after."""
    return await _run_job(request, ctx, settings, pool, optimize_work.render)


async def storyboard(
    request: StoryboardRequest, ctx: JobCtx, settings: Settings, pool: Pool
) -> StoryboardResult | BulkResult:
    """A sprite sheet (or several) of each source video plus its WebVTT thumbnail track."""
    return await _run_job(request, ctx, settings, pool, storyboard_work.render)
