"""The one shape of a bulk job's items and summary, whichever service runs it (`jobcommon.bulk` runs them).

Each item's outcome is an `ItemRecord` (paged at GET /jobs/{task_id}/items); the job's result is a
`BulkSummary` (a service may extend it). Plain models, light to import: the imaging service's CPU pool
processes load them with the results.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

MAX_LISTED_FAILURES = 20
"""The summary lists this many failures at most (those of the lowest indexes); the items have them all."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ItemError(_Model):
    """Why an item failed (never a traceback)."""

    type: str
    message: str
    retryable: bool = False
    """Trying the item again later may succeed."""


class ItemRecord(_Model):
    """One item of a bulk job, recorded as soon as it is done; fields without a value are left out."""

    index: int
    item: str
    """The item as submitted (a URL, a path under MEDIA_ROOT, a task id)."""
    status: Literal["succeeded", "failed", "cancelled"]
    """`cancelled` only for items run as jobs of their own (a cancelled playlist's entries)."""
    result: dict[str, Any] | None = None
    """Succeeded: what the job type returns for one item."""
    error: ItemError | None = None
    """Failed: why (after the last attempt)."""
    attempts: int = 1
    task_id: str | None = None
    """For items run as jobs of their own (a playlist's entries): that job."""


class ItemFailure(_Model):
    """A failed item, as the job's summary lists it."""

    index: int
    item: str
    type: str
    message: str


class BulkSummary(_Model):
    """The result of a bulk job: counts and the first failures; every item's outcome is among its items."""

    total: int
    succeeded: int
    failed: int
    failures: list[ItemFailure]
    """The failures of the lowest indexes, at most `MAX_LISTED_FAILURES`, in index order."""
