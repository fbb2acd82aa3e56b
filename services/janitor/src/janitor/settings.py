"""Janitor settings (environment variables).

The janitor is a worker like any other (`CONCURRENCY`, `LEASE_S`, ...) plus its periodic duties, which only
the replica holding the leader lock runs. Every duty has its own interval, `JANITOR_<DUTY>_INTERVAL_S`.
Periodic schedules' jobs are admitted as the gateway admits a submission (`MAX_ACTIVE_JOBS`,
`SUBMIT_RATE_PER_S`, `SUBMIT_BURST`: give both services the same values).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from jobcommon import WorkerSettings
from jobcommon.settings import AdmissionSettings


class JanitorSettings(WorkerSettings, AdmissionSettings):
    metrics_port: int = Field(
        default=9104, ge=0, le=65535, description="Port of the Prometheus endpoint (/metrics); 0: off."
    )
    janitor_leader_ttl_s: float = Field(
        default=15.0,
        ge=0.5,
        description="TTL of the leader lock; renewed every third of it. A dead leader is replaced after it.",
    )
    janitor_prune_index_interval_s: float = Field(
        default=60.0, gt=0, description="How often index entries of expired job records are dropped."
    )
    janitor_retries_interval_s: float = Field(
        default=5.0, gt=0, description="How often due retries are put back on their queues."
    )
    janitor_reclaim_interval_s: float = Field(
        default=10.0, gt=0, description="How often dead workers' deliveries are reclaimed, on every queue."
    )
    janitor_trim_streams_interval_s: float = Field(
        default=60.0, gt=0, description="How often acknowledged leftovers and old dead letters are deleted."
    )
    janitor_dead_consumers_interval_s: float = Field(
        default=60.0, gt=0, description="How often consumers of stopped workers leave their groups."
    )
    janitor_temp_files_interval_s: float = Field(
        default=600.0, gt=0, description="How often orphaned scratch dirs and partial downloads are removed."
    )
    janitor_schedules_interval_s: float = Field(
        default=1.0, gt=0, description="How often periodic schedules' due ticks are fired."
    )
    schedules_file: Path | None = Field(
        default=None,
        description="TOML file of periodic schedules ([[schedule]] tables), synced into Redis at start.",
    )
    janitor_queue_stats_interval_s: float = Field(
        default=10.0, gt=0, description="How often a queue-depth sample is recorded."
    )
    janitor_temp_max_age_s: float = Field(
        default=6 * 3600.0,
        ge=0,
        description="Scratch dirs and partial files untouched this long, of jobs no longer active, go.",
    )
    janitor_report_ttl_s: int = Field(
        default=3600, gt=0, description="TTL of the duty reports hash (refreshed by every report)."
    )
    janitor_queue_samples: int = Field(
        default=1440, ge=1, description="Queue-depth samples kept (1440 every 10 s: four hours)."
    )
    janitor_queue_samples_per_queue: int = Field(
        default=360, ge=1, description="Samples kept per queue with throughput and wait (an hour at 10 s)."
    )
