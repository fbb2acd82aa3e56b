"""Janitor settings (environment variables)."""

from __future__ import annotations

from pydantic import Field

from jobcommon import WorkerSettings


class JanitorSettings(WorkerSettings):
    prune_interval_s: float = Field(default=60.0, gt=0, description="How often expired job index entries go.")
