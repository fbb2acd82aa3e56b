"""One job over its sources: a single source returns its own result; several run as a bulk job
(`jobcommon.bulk.run_items`), each source writing into a directory of its own, the job returning a
`BulkResult`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

from imaging.errors import WorkCancelled
from imaging.results import BulkResult
from jobcommon import PermanentError, run_items

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from pydantic import BaseModel

    from jobcommon import JobContext

R = TypeVar("R", bound="BaseModel")


def item_dir(index: int, total: int) -> str:
    """Where source `index` writes inside the job's output dir: the dir itself for a single source."""
    return "" if total == 1 else f"{index:04d}"


async def run_sources(
    ctx: JobContext,
    sources: list[str],
    concurrency: int,
    one: Callable[[int, str], Awaitable[R]],
    *,
    media_root: Path,
) -> R | BulkResult:
    """`one(index, source)` processes one source: returns its result or raises."""
    if not sources:
        raise PermanentError("the job has no sources", error_type="NoSources")
    ctx.ensure_dirs()
    if len(sources) == 1:
        return await one(0, sources[0])

    async def one_of_many(index: int, source: str) -> R:
        try:
            return await one(index, source)
        except WorkCancelled as exc:  # the work saw the job's cancel flag: this is no failure of the source
            raise asyncio.CancelledError from exc

    summary = await run_items(ctx, sources, one_of_many, concurrency=concurrency, noun="sources")
    output_dir = ctx.output_dir.relative_to(media_root).as_posix()
    return BulkResult(**summary.model_dump(), output_dir=output_dir)
