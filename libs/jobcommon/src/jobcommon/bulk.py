"""Bulk jobs: one runner over a job's items (`jobcommon.items` is what it records and returns).

`run_items` works through the items with at most `concurrency` in flight. Each item's outcome is recorded the
moment it is done (`ItemRecord`, paged at GET /jobs/{task_id}/items) and then dropped, so a 10,000-item job
holds no more than `concurrency` items in memory and never builds one giant Redis value. The job's progress
counts items_total / items_done / items_failed. An item that fails in a way that may pass (the job rule of
`jobcommon.outcome`) is tried again up to `retries` times; infrastructure errors (Redis) end the whole run.
A failing item does not fail the job unless every item fails: then the job fails as `AllItemsFailed`,
transiently (retried later) if any of those failures may pass.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from redis.exceptions import RedisError

from jobcommon import metrics
from jobcommon.errors import JobError, PermanentError, TransientError
from jobcommon.items import MAX_LISTED_FAILURES, BulkSummary, ItemError, ItemFailure, ItemRecord
from jobcommon.outcome import from_exception

if TYPE_CHECKING:
    from jobcommon.context import JobContext

log = logging.getLogger("mediajobs.bulk")


ItemFn = Callable[[int, str], Awaitable[BaseModel]]
"""Processes one item (its index, the item): returns its result or raises."""
Describe = Callable[[Exception], ItemError]


def describe_failure(exc: Exception) -> ItemError:
    """An item's failure by the job rule (`jobcommon.outcome.from_exception`): permanent errors are final,
    anything else may pass."""
    outcome = from_exception(exc)
    return ItemError(type=outcome.error_type, message=outcome.message, retryable=outcome.retryable)


def _cancelling(task: asyncio.Task[Any] | None) -> bool:
    return task is not None and task.cancelling() > 0


class _Tally:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.retryable = 0
        self._lowest: list[tuple[int, ItemFailure]] = []
        """A max-heap (by negated index) of the failures of the lowest indexes."""

    def add(self, record: ItemRecord) -> None:
        self.done += 1
        if record.error is None:
            return
        self.failed += 1
        self.retryable += record.error.retryable
        failure = ItemFailure(
            index=record.index, item=record.item, type=record.error.type, message=record.error.message
        )
        heapq.heappush(self._lowest, (-record.index, failure))
        if len(self._lowest) > MAX_LISTED_FAILURES:
            heapq.heappop(self._lowest)

    def failures(self) -> list[ItemFailure]:
        return [failure for _, failure in sorted(self._lowest, reverse=True)]


class _BulkRun:
    def __init__(
        self, ctx: JobContext, one: ItemFn, describe: Describe, retries: int, retry_delay_s: float, noun: str
    ) -> None:
        self.ctx = ctx
        self.one = one
        self.describe = describe
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.noun = noun
        self.parent = asyncio.current_task()
        self.tally = _Tally(0)

    def stopping(self) -> bool:
        """The job is being cancelled, timed out or lost its lease: its handler task was told to stop.

        Checked besides CancelledError because a cancel can be swallowed: Python 3.11's asyncio.wait_for
        (used by redis-py around socket writes) drops a cancel that arrives as its inner call completes.
        """
        ctx = self.ctx
        return (
            ctx.cancel_requested.is_set()
            or ctx.soft_limit_reached.is_set()
            or _cancelling(self.parent)
            or _cancelling(asyncio.current_task())
        )

    async def report(self) -> None:
        tally = self.tally
        await self.ctx.progress(
            100.0 * tally.done / tally.total,
            f"{tally.done}/{tally.total} {self.noun}",
            items_total=tally.total,
            items_done=tally.done,
            items_failed=tally.failed,
        )

    async def attempt(self, index: int, item: str) -> ItemRecord:
        """The item's outcome after its last attempt; only cancellation and Redis errors propagate."""
        attempt = 1
        while True:
            try:
                result = await self.one(index, item)
            except RedisError:
                raise
            except Exception as exc:
                if self.stopping():  # our cancellation surfacing as an error: no failure of the item
                    log.debug("job=%s: stopping at item %d (%r)", self.ctx.task_id, index, exc)
                    raise asyncio.CancelledError from exc
                error = self.describe(exc)
                if not isinstance(exc, JobError):
                    log.warning("job=%s: item %d (%s) failed", self.ctx.task_id, index, item, exc_info=exc)
                if not error.retryable or attempt > self.retries:
                    return ItemRecord(index=index, item=item, status="failed", error=error, attempts=attempt)
            else:
                dumped = result.model_dump(mode="json", exclude_none=True)
                return ItemRecord(index=index, item=item, status="succeeded", result=dumped, attempts=attempt)
            await asyncio.sleep(self.retry_delay_s * attempt)
            attempt += 1

    async def work(self, pending: Iterator[tuple[int, str]]) -> None:
        for index, item in pending:  # shared iterator: each item goes to exactly one worker
            if self.stopping():
                raise asyncio.CancelledError
            record = await self.attempt(index, item)
            await self.ctx.record_item(index, record.model_dump(mode="json", exclude_none=True))
            self.tally.add(record)
            metrics.ITEMS.labels(self.ctx.job.job_type, record.status).inc()
            await self.report()

    async def run(self, items: Sequence[str], concurrency: int) -> BulkSummary:
        self.tally = tally = _Tally(len(items))
        await self.report()
        pending = iter(enumerate(items))
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(concurrency, len(items))):
                    group.create_task(self.work(pending))
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        if tally.done < tally.total:  # a worker stopped early: cancelled, or told to stop
            if self.stopping():
                raise asyncio.CancelledError
            message = f"interrupted after {tally.done} of {tally.total} {self.noun}"
            raise TransientError(message, error_type="BulkInterrupted")
        log.info(
            "job=%s: %d %s, %d succeeded, %d failed",
            self.ctx.task_id,
            tally.total,
            self.noun,
            tally.total - tally.failed,
            tally.failed,
        )
        failures = tally.failures()
        if tally.failed == tally.total:
            first = failures[0]
            error = TransientError if tally.retryable else PermanentError
            raise error(
                f"all {tally.total} {self.noun} failed; item {first.index}: {first.type}: {first.message}",
                error_type="AllItemsFailed",
            )
        return BulkSummary(
            total=tally.total, succeeded=tally.total - tally.failed, failed=tally.failed, failures=failures
        )


async def run_items(
    ctx: JobContext,
    items: Sequence[str],
    one: ItemFn,
    *,
    concurrency: int,
    describe: Describe = describe_failure,
    retries: int = 0,
    retry_delay_s: float = 0.0,
    noun: str = "items",
) -> BulkSummary:
    """Run `one(index, item)` for every item, at most `concurrency` at once; record each outcome.

    `describe` turns an item's exception into its `ItemError` (whether it may pass decides retries and how
    the job fails when every item failed); a retry waits `retry_delay_s` times its number. `noun` names the
    items in progress and error messages ("sources", "items").
    """
    if not items:
        raise PermanentError(f"the job has no {noun}", error_type="NoItems")
    return await _BulkRun(ctx, one, describe, retries, retry_delay_s, noun).run(items, concurrency)
