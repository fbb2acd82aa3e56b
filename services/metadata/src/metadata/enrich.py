"""The `metadata_enrich` job: source info and a technical probe for many items, some of which may fail.

The items run through `jobcommon.bulk.run_items` (`request.concurrency` at once, each outcome recorded as
soon as it is done, transient failures retried `METADATA_ITEM_RETRIES` times); the job's result is the
summary, and it fails only when every item failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jobcommon import (
    BulkSummary,
    ChildFailed,
    ItemError,
    JobCtx,
    JobError,
    MetadataEnrichRequest,
    resolve_source,
    source_job,
)
from jobcommon.bulk import describe_failure, run_items
from jobcommon.outcome import one_line
from jobcommon.requests.base import TASK_ID
from jobcommon.sources import SourceError
from jobcommon.tracing import tracer
from jobcommon.ytdlp.smuggling import unsmuggled
from metadata.results import EnrichedItem, VideoInfoResult
from metadata.runtime import MetadataRuntime, Runtime
from metadata.settings import Settings
from metadata.video_info import info_result

# Runtime imports above on purpose: FastStream resolves the handler's annotations when it builds the call.

if TYPE_CHECKING:
    from jobcommon import JobContext
    from jobcommon.store import JobStore


def _is_url(item: str) -> bool:
    return "://" in item


def item_error(exc: Exception) -> ItemError:
    """How one item's failure is reported: a file that cannot be read is final; otherwise the job rule."""
    if isinstance(exc, OSError):
        message = one_line(f"cannot read the file: {exc.strerror or exc}")
        return ItemError(type=type(exc).__name__, message=message)
    return describe_failure(exc)


@dataclass(slots=True)
class _Enricher:
    runtime: MetadataRuntime
    ctx: JobContext
    store: JobStore
    refresh: bool
    refreshed: set[str] = field(default_factory=set)
    """URLs this job has extracted afresh already: refresh each once, however often it is listed."""

    async def source(self, url: str) -> VideoInfoResult:
        refresh = self.refresh and url not in self.refreshed
        try:
            found = await self.runtime.lookup.info(url, self._wait_turn, refresh=refresh)
        except ChildFailed as exc:
            raise exc.to_job_error() from None
        if refresh:
            self.refreshed.add(url)
        return info_result(url, found)

    async def _wait_turn(self, url: str) -> None:
        """An item waits for its host's turn in place: a bulk job cannot leave its slot half done."""
        await self.runtime.host_limits.wait_turn(self.ctx, url)

    async def _source_url_of(self, task_id: str) -> str | None:
        try:
            job = await source_job(self.store, task_id, self.ctx.job.owner)
        except SourceError:
            return None  # resolve_source says why it cannot be used
        url = (job.result or {}).get("source_url")
        requested = job.request.get("url")
        if isinstance(url, str) and isinstance(requested, str):
            url = unsmuggled(requested)  # the result shows it redacted; the request has its credentials
        return url if isinstance(url, str) and _is_url(url) else None

    async def enrich(self, index: int, item: str) -> EnrichedItem:
        """One attempt at one item (a `metadata item` span); raises on failure."""
        with tracer.start_as_current_span("metadata item", attributes={"mediajobs.item.index": index}):
            return await self._enrich(item)

    async def _enrich(self, item: str) -> EnrichedItem:
        if _is_url(item):
            return EnrichedItem(source=await self.source(item))
        source_url = await self._source_url_of(item) if TASK_ID.match(item) else None
        path = await resolve_source(self.store, self.runtime.settings.media_root, item, self.ctx.job.owner)
        probed = await self.runtime.prober.probe(path)
        source, source_error = None, None
        if source_url is not None:  # the output of a download job: what its source said, too
            try:
                source = await self.source(source_url)
            except JobError as exc:
                source_error = item_error(exc)
        return EnrichedItem(file=probed, source=source, source_error=source_error)


async def metadata_enrich(
    request: MetadataEnrichRequest, ctx: JobCtx, settings: Settings, runtime: Runtime
) -> BulkSummary:
    """Enrich every item: URLs get their source info (through the video info cache), files under MEDIA_ROOT
    (or finished jobs' outputs) a technical probe, plus their source's info for download outputs."""
    enricher = _Enricher(runtime, ctx, ctx.reporter.store, request.refresh)
    return await run_items(
        ctx,
        request.items,
        enricher.enrich,
        concurrency=request.concurrency,
        describe=item_error,
        retries=settings.metadata_item_retries,
        retry_delay_s=settings.metadata_item_retry_delay_s,
    )
