"""Configuration shared by every mediajobs process, read from environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Settings every service reads: where Redis is, where media goes, how long job data lives."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    media_root: Path = Path("./var/media")
    queued_ttl_s: int = Field(
        default=24 * 3600, gt=0, description="TTL of a job record while it waits in a queue."
    )
    progress_ttl_s: int = Field(
        default=3600, gt=0, description="TTL of a running job's record, renewed by its worker."
    )
    result_ttl_s: int = Field(
        default=2 * 3600, gt=0, description="TTL of a finished job's record and result."
    )
    progress_interval_s: float = Field(
        default=0.25, ge=0, description="Coalescing window for progress updates."
    )
    lease_s: float = Field(
        default=30.0,
        gt=0,
        description="A running job whose worker stops renewing for this long is run again.",
    )
    cancel_poll_s: float = Field(
        default=0.25, gt=0, description="How often a running job checks for a cancel."
    )
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    redis_max_connections: int = Field(default=64, ge=2, le=10_000)
    redis_connect_timeout_s: float = Field(default=3.0, gt=0)
    redis_timeout_s: float = Field(default=15.0, gt=0)

    @field_validator("media_root")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()
