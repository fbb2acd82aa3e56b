"""The one shape of a bulk job's items and summary, whichever service runs it (`jobcommon.bulk` runs them).

Each item's outcome is an `ItemRecord` (paged at GET /jobs/{task_id}/items); the job's result is a
`BulkSummary` (a service may extend it). Plain models, light to import: the imaging service's CPU pool
processes load them with the results.

Items run as jobs of their own (a playlist's entries, `jobcommon.children`) are there before they end too:
`queued` from the start, then as their job stands (`running` with its progress, `retrying`), refreshed with
their parent's progress (lua/lib_parent.lua), until their outcome replaces them.
"""

from __future__ import annotations

from datetime import datetime
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


ItemStatus = Literal["queued", "scheduled", "running", "retrying", "succeeded", "failed", "cancelled"]


class ItemProgress(_Model):
    """How far a running item's job is: its own latest progress."""

    percent: float | None = None
    message: str = ""
    downloaded_bytes: int | None = None
    total_bytes: int | None = None
    speed: float | None = None
    """Bytes per second."""
    eta: float | None = None
    """Seconds until done, as its worker estimates."""
    updated_at: datetime | None = None


class ItemRecord(_Model):
    """One item of a bulk job, recorded as soon as it is done (an item run as a job of its own: from the
    start, as that job stands); fields without a value are left out."""

    index: int
    item: str
    """The item as submitted (a URL, a path under MEDIA_ROOT, a task id)."""
    status: ItemStatus
    """`succeeded`, `failed` or `cancelled` once ended. Only items run as jobs of their own (a playlist's
    entries) are ever `cancelled` (a cancelled playlist's entries), or there before they end: `queued` (or
    `scheduled`), `running`, `retrying` (an attempt failed; the next one is due), as their job was at the
    parent's last progress update."""
    result: dict[str, Any] | None = None
    """Succeeded: what the job type returns for one item."""
    error: ItemError | None = None
    """Failed: why (after the last attempt)."""
    attempts: int = 1
    """Attempts so far (0 for an item whose job has not started)."""
    task_id: str | None = None
    """For items run as jobs of their own (a playlist's entries): that job."""
    progress: ItemProgress | None = None
    """Running: its job's latest progress (percent, bytes, speed, ETA, message)."""


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
