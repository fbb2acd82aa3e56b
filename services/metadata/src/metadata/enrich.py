"""The `metadata_enrich` job: source info and a technical probe for many items, some of which may fail.

Items stream through a fixed number of workers (`request.concurrency`): each result is recorded in the job's
item hash (`ctx.record_item`) the moment it is done and then dropped, so a 10,000-item job holds no more than
`concurrency` items in memory and never builds one giant Redis value. The job's result is a summary. The job
fails only when every item failed (retried later if any of those failures was transient).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from jobcommon import JobCtx, JobNotFound, PermanentError, TransientError
from jobcommon.cancellation import reraise_if_cancelling
from jobcommon.errors import JobError
from jobcommon.outcome import one_line
from jobcommon.requests import MetadataEnrichRequest
from jobcommon.requests.base import TASK_ID
from jobcommon.sources import resolve_source
from metadata.info_pool import ExtractionError
from metadata.results import EnrichedItem, EnrichSummary, FailedItem, ItemError, VideoInfoResult
from metadata.runtime import MetadataRuntime, Runtime
from metadata.settings import Settings
from metadata.video_info import info_result

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from jobcommon.store import JobStore

log = logging.getLogger("mediajobs.metadata")

MAX_REPORTED_ERRORS = 10


def _is_url(item: str) -> bool:
    return "://" in item


def item_error(exc: Exception) -> ItemError:
    """How one item's failure is reported (never a traceback)."""
    if isinstance(exc, ExtractionError):
        return ItemError(
            type=exc.error_type, message=one_line(exc.message), retryable=exc.kind == "transient"
        )
    if isinstance(exc, JobError):
        return ItemError(
            type=exc.error_type, message=one_line(exc.message), retryable=isinstance(exc, TransientError)
        )
    if isinstance(exc, OSError):
        return ItemError(
            type=type(exc).__name__, message=one_line(f"cannot read the file: {exc.strerror or exc}")
        )
    return ItemError(type=type(exc).__name__, message=one_line(str(exc) or type(exc).__name__))


@dataclass(slots=True)
class _Enricher:
    runtime: MetadataRuntime
    store: JobStore
    refresh: bool
    refreshed: set[str] = field(default_factory=set)
    """URLs this job has extracted afresh already: refresh each once, however often it is listed."""

    async def source(self, url: str) -> VideoInfoResult:
        refresh = self.refresh and url not in self.refreshed
        try:
            found = await self.runtime.lookup.info(url, refresh=refresh)
        except ExtractionError as exc:
            raise exc.to_job_error() from None
        if refresh:
            self.refreshed.add(url)
        return info_result(url, found)

    async def _source_url_of(self, task_id: str) -> str | None:
        try:
            job = await self.store.get(task_id)
        except JobNotFound:
            return None  # resolve_source says why it cannot be used
        url = (job.result or {}).get("source_url")
        return url if isinstance(url, str) and _is_url(url) else None

    async def enrich(self, index: int, item: str) -> EnrichedItem:
        """One attempt at one item; raises on failure."""
        if _is_url(item):
            return EnrichedItem(index=index, item=item, ok=True, source=await self.source(item))
        source_url = await self._source_url_of(item) if TASK_ID.match(item) else None
        path = await resolve_source(self.store, self.runtime.settings.media_root, item)
        probed = await self.runtime.prober.probe(path)
        source, source_error = None, None
        if source_url is not None:  # the output of a download job: what its source said, too
            try:
                source = await self.source(source_url)
            except JobError as exc:
                source_error = item_error(exc)
        return EnrichedItem(
            index=index, item=item, ok=True, file=probed, source=source, source_error=source_error
        )

    async def enrich_with_retries(self, index: int, item: str, retries: int, delay_s: float) -> EnrichedItem:
        """The item's result, or its failure as a result: only infrastructure errors (Redis) propagate."""
        attempt = 1
        while True:
            try:
                done = await self.enrich(index, item)
                return done.model_copy(update={"attempts": attempt})
            except RedisError:
                raise
            except Exception as exc:
                reraise_if_cancelling(exc)
                error = item_error(exc)
                if not isinstance(exc, JobError | ExtractionError | OSError):
                    log.exception("item %d (%s) failed unexpectedly", index, item)
                if not error.retryable or attempt > retries:
                    return EnrichedItem(index=index, item=item, ok=False, error=error, attempts=attempt)
            await asyncio.sleep(delay_s * attempt)
            attempt += 1


@dataclass(slots=True)
class _Tally:
    total: int
    done: int = 0
    failed: int = 0
    retryable_failures: int = 0
    errors: list[FailedItem] = field(default_factory=list)

    def add(self, result: EnrichedItem) -> None:
        self.done += 1
        if result.ok or result.error is None:
            return
        self.failed += 1
        self.retryable_failures += result.error.retryable
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(
                FailedItem(
                    index=result.index, item=result.item, type=result.error.type, message=result.error.message
                )
            )


async def _run_workers(worker: Callable[[], Coroutine[None, None, None]], count: int) -> None:
    """Run `count` copies of `worker`; the first one to raise cancels the others and its error propagates."""
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(count):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def metadata_enrich(
    request: MetadataEnrichRequest, ctx: JobCtx, settings: Settings, runtime: Runtime
) -> EnrichSummary:
    """Enrich every item: URLs get their source info (through the video info cache), files under MEDIA_ROOT
    (or finished jobs' outputs) a technical probe, plus their source's info for download outputs."""
    items = request.items
    if not items:
        raise PermanentError("nothing to enrich: `items` is empty", error_type="NoItems")
    enricher = _Enricher(runtime, ctx.reporter.store, request.refresh)
    tally = _Tally(total=len(items))
    pending = iter(enumerate(items))
    await ctx.progress(0.0, "starting", items_total=tally.total, items_done=0, items_failed=0)

    async def worker() -> None:
        for index, item in pending:  # shared: each item goes to exactly one worker
            result = await enricher.enrich_with_retries(
                index, item, settings.metadata_item_retries, settings.metadata_item_retry_delay_s
            )
            await ctx.record_item(index, result.model_dump(mode="json", exclude_none=True))
            tally.add(result)
            await ctx.progress(
                100.0 * tally.done / tally.total,
                f"{tally.done}/{tally.total} items",
                items_total=tally.total,
                items_done=tally.done,
                items_failed=tally.failed,
            )

    await _run_workers(worker, min(request.concurrency, len(items)))
    log.info(
        "job=%s enriched %d items: %d succeeded, %d failed",
        ctx.task_id,
        tally.total,
        tally.total - tally.failed,
        tally.failed,
    )
    if tally.failed == tally.total:
        first = tally.errors[0]
        error = TransientError if tally.retryable_failures else PermanentError
        raise error(
            f"all {tally.total} items failed; item {first.index}: {first.type}: {first.message}",
            error_type="AllItemsFailed",
        )
    return EnrichSummary(
        total=tally.total, succeeded=tally.total - tally.failed, failed=tally.failed, errors=tally.errors
    )
