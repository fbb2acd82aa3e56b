"""Queue samples over time: the janitor records each queue's numbers every few seconds (with throughput and
the median wait since the last sample) on a capped per-queue list; `GET /admin/queues` shows them.

The job-state scripts feed it: each ending counts in `keys.FINISHED_COUNTS` (per queue) and each start
pushes its wait (queued to started) on `keys.queue_waits(queue)` (the last `WAITS_KEPT`)."""

from __future__ import annotations

WAITS_KEPT = 500
"""Most recent waits kept per queue between two samples."""
WAITS_TTL_S = 3600
"""The waits list expires this long after the last start on its queue."""
