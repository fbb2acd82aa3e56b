"""Every Prometheus metric of mediajobs, defined once (prometheus-client's default registry).

Names carry the `mediajobs_` prefix and base units (`_seconds`, `_bytes`); counters end in `_total`. Label
values come from bounded sets only — job types, queues, statuses, error class names, item outcomes — never a
task id, URL or path. A process exports what it does: the gateway its submissions and (at scrape time, from
Redis) every queue's numbers; a worker the runs of its jobs (`jobcommon.middleware`), its upkeep's reclaims
and whatever its handlers count (bytes downloaded, bulk items).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from jobcommon.queue_stats import QueueStats

log = logging.getLogger("mediajobs.metrics")

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

JOBS_SUBMITTED = Counter(
    "mediajobs_jobs_submitted_total",
    "Jobs accepted by the gateway (new ones, not idempotent replays).",
    ["job_type"],
)
JOBS_FINISHED = Counter(
    "mediajobs_jobs_finished_total",
    "Jobs a worker ended: succeeded, failed or cancelled.",
    ["job_type", "status"],
)
ATTEMPT_DURATION = Histogram(
    "mediajobs_job_attempt_duration_seconds",
    "How long one attempt's handler ran.",
    ["job_type"],
    buckets=DURATION_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "mediajobs_job_queue_wait_seconds",
    "From entering the queue (first time or after a retry) to an attempt's start.",
    ["job_type"],
    buckets=WAIT_BUCKETS,
)
JOBS_RUNNING = Gauge("mediajobs_jobs_running", "Jobs this process runs now.", ["job_type"])
RETRIES = Counter(
    "mediajobs_job_retries_total", "Failed attempts scheduled to run again.", ["job_type", "error_type"]
)
DEFERRALS = Counter(
    "mediajobs_job_deferrals_total",
    "Runs that went back to wait for their turn at a shared rate limit (RATE_LIMITS); not attempts.",
    ["job_type"],
)
ATTEMPT_ERRORS = Counter(
    "mediajobs_job_errors_total",
    "Failed attempts, by the error's class (retried or final).",
    ["job_type", "error_type"],
)
DEAD_LETTERS = Counter(
    "mediajobs_jobs_dead_lettered_total",
    "Jobs out of attempts, moved to the dead letters (RetriesExhausted, WorkerLost).",
    ["reason"],
)
RECLAIMS = Counter(
    "mediajobs_job_reclaims_total", "Deliveries of dead or wedged workers requeued by upkeep.", ["queue"]
)
CANCEL_REQUESTS = Counter(
    "mediajobs_cancel_requests_total",
    "Cancels the gateway accepted, by the job's status right after (cancelled: it was queued).",
    ["status"],
)
DOWNLOADED_BYTES = Counter("mediajobs_downloaded_bytes_total", "Bytes of finished downloads.", ["job_type"])
ITEMS = Counter(
    "mediajobs_items_total", "Items of bulk jobs (metadata, imaging), by outcome.", ["job_type", "outcome"]
)
SCHEDULE_TICKS = Counter(
    "mediajobs_schedule_ticks_total",
    "Periodic schedules' ticks the janitor's leader took, by outcome: fired (made its job), refused (the "
    "owner's MAX_ACTIVE_JOBS or submission rate; skipped), invalid (its job does not validate; skipped).",
    ["outcome"],
)
SCHEDULES_FAILING = Gauge(
    "mediajobs_schedules_failing",
    "Periodic schedules whose last tick made no job (refused, or its job does not validate), as the "
    "janitor's leader last counted them.",
)

QUEUE_LENGTH = Gauge("mediajobs_queue_length", "Entries in the queue's stream.", ["queue"])
QUEUE_LAG = Gauge("mediajobs_queue_lag", "Entries not yet delivered to any worker.", ["queue"])
QUEUE_PENDING = Gauge("mediajobs_queue_pending", "Entries delivered and not yet acknowledged.", ["queue"])
QUEUE_CONSUMERS = Gauge("mediajobs_queue_consumers", "Live workers in the queue's consumer group.", ["queue"])
QUEUE_OLDEST_WAITING = Gauge(
    "mediajobs_queue_oldest_waiting_age_seconds",
    "Age of the oldest entry not yet delivered (0 when none waits).",
    ["queue"],
)


def record_queue_stats(stats: list[QueueStats]) -> None:
    """Set the per-queue gauges from a fresh reading (`jobcommon.queue_stats`)."""
    for queue in stats:
        QUEUE_LENGTH.labels(queue.queue).set(queue.length)
        QUEUE_LAG.labels(queue.queue).set(queue.lag)
        QUEUE_PENDING.labels(queue.queue).set(queue.pending)
        QUEUE_CONSUMERS.labels(queue.queue).set(queue.consumers)
        QUEUE_OLDEST_WAITING.labels(queue.queue).set(queue.oldest_waiting_s)


def serve_metrics(host: str, port: int) -> bool:
    """Expose the default registry on http://host:port/metrics from a daemon thread (port 0: off).

    A port already taken is logged, not fatal: a service runs its jobs without its metrics.
    """
    if port == 0:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.error("metrics not served on %s:%d: %s", host, port, exc)
        return False
    log.info("metrics on http://%s:%d/metrics", host, port)
    return True
