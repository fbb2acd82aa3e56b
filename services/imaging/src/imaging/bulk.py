"""One job over its sources: a single source returns its own result; several run as a bulk job.

Bulk: at most `concurrency` sources in flight; each finished source is recorded as an item (its result or
its error) and the job's progress counts items_total / items_done / items_failed. A failing source does not
fail the job unless every source fails; the job's result is a `BulkResult` summary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from imaging.errors import WorkCancelled
from imaging.results import BulkResult, ItemFailure
from jobcommon import JobError, PermanentError, TransientError

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic import BaseModel

    from jobcommon import JobContext

log = logging.getLogger("mediajobs.imaging.bulk")

MAX_LISTED_FAILURES = 20

R = TypeVar("R", bound="BaseModel")


def cancelling(task: asyncio.Task[Any] | None = None) -> bool:
    """Whether `task` (default: the current one) has been asked to stop."""
    task = task or asyncio.current_task()
    return task is not None and task.cancelling() > 0


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
    summary = await _bulk(ctx, sources, concurrency, one)
    return summary.model_copy(update={"output_dir": ctx.output_dir.relative_to(media_root).as_posix()})


def _describe(exc: Exception) -> tuple[str, str, bool]:
    """(error type, one-line message, permanent?) of a source's failure."""
    if isinstance(exc, JobError):
        return exc.error_type, exc.message, isinstance(exc, PermanentError)
    return type(exc).__name__, " ".join(str(exc).split()) or type(exc).__name__, False


async def _bulk(
    ctx: JobContext, sources: list[str], concurrency: int, one: Callable[[int, str], Awaitable[R]]
) -> BulkResult:
    total = len(sources)
    done = 0
    failures: list[ItemFailure] = []
    permanent = 0
    queue = iter(enumerate(sources))

    async def report() -> None:
        await ctx.progress(
            100.0 * done / total,
            f"{done}/{total} sources",
            items_total=total,
            items_done=done,
            items_failed=len(failures),
        )

    parent = asyncio.current_task()

    def stopping() -> bool:
        """The job is being cancelled, timed out or lost its lease: its handler task was told to stop.

        Checked besides CancelledError because a cancel can be swallowed: Python 3.11's asyncio.wait_for
        (used by redis-py around socket writes) drops a cancel that arrives as its inner call completes.
        """
        return ctx.cancel_requested.is_set() or ctx.soft_limit_reached.is_set() or cancelling(parent)

    async def worker() -> None:
        nonlocal done, permanent
        for index, source in queue:
            if stopping() or cancelling():
                raise asyncio.CancelledError
            item: dict[str, Any] = {"index": index, "source": source}
            try:
                result = await one(index, source)
            except Exception as exc:
                if stopping() or cancelling() or isinstance(exc, WorkCancelled):
                    # Our cancellation surfacing as an error (a library converted it, or the work saw the
                    # job's cancel flag): stop; this is no failure of the source.
                    log.debug("job=%s: stopping at source %d (%r)", ctx.task_id, index, exc)
                    raise asyncio.CancelledError from exc
                error_type, message, is_permanent = _describe(exc)
                if not isinstance(exc, JobError):
                    log.warning("job=%s source %d (%s) failed", ctx.task_id, index, source, exc_info=exc)
                permanent += is_permanent
                failure = ItemFailure(index=index, source=source, error_type=error_type, message=message)
                failures.append(failure)
                item |= {"status": "failed", "error": {"type": error_type, "message": message}}
            else:
                item |= {"status": "succeeded", "result": result.model_dump(mode="json")}
            await ctx.record_item(index, item)
            done += 1
            await report()

    await report()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, total)):
            group.create_task(worker())
    if done < total:  # a worker stopped early without the job being cancelled
        if stopping():
            raise asyncio.CancelledError
        raise TransientError(f"interrupted after {done} of {total} sources", error_type="BulkInterrupted")
    failures.sort(key=lambda f: f.index)
    if len(failures) == total:
        first = failures[0]
        message = f"all {total} sources failed; first: {first.message}"
        if permanent == total:
            raise PermanentError(message, error_type="AllSourcesFailed")
        raise TransientError(message, error_type="AllSourcesFailed")
    return BulkResult(
        total=total,
        succeeded=total - len(failures),
        failed=len(failures),
        output_dir="",
        failures=failures[:MAX_LISTED_FAILURES],
    )
