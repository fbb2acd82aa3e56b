"""Configuration shared by every mediajobs process, read from environment variables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from jobcommon.host_limits import HostRule, parse_host_rules
from jobcommon.netguard import parse_networks


class TracingUiSettings(BaseSettings):
    """Where people look at traces (`jobcommon.trace_links`)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    tracing_ui_url: str | None = Field(
        default=None,
        description="A tracing UI's address: job records then carry `trace_url`. May hold `{trace_id}`; "
        "otherwise `/trace/<trace id>` is appended (Jaeger's form).",
    )


class CommonSettings(TracingUiSettings):
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
    heartbeat_interval_s: float = Field(
        default=5.0, gt=0, description="How often a service refreshes its presence record (health)."
    )
    liveness_interval_s: float = Field(
        default=0.5, gt=0, description="How often a worker proves it lives (from a thread)."
    )
    liveness_ttl_s: float = Field(
        default=3.0,
        gt=0,
        description="A worker silent this long is dead: its running jobs are requeued (within ~0.5 s more).",
    )
    redis_max_connections: int = Field(default=64, ge=2, le=10_000)
    redis_connect_timeout_s: float = Field(
        default=3.0, gt=0, description="Workers' and the janitor's bound on opening a Redis connection."
    )
    redis_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="Workers' and the janitor's patience with one Redis command: it waits this long for an "
        "answer and is tried again on a fresh connection (5 more times, backing off up to 2 s), so a running "
        "job rides out a Redis blip of about a minute and a half (`jobcommon.connection`).",
    )
    redis_request_timeout_s: float = Field(
        default=2.0,
        gt=0,
        description="The API's (gateway, `JobClient`) bound on one Redis command, on opening a connection "
        "and on waiting for a free one: a request meets a frozen, unreachable or overloaded Redis with a 503 "
        "this soon (a command that meets a dropped connection is tried once more at once; a slow one: not).",
    )

    @field_validator("media_root")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @model_validator(mode="after")
    def _liveness_outlasts_beats(self) -> Self:
        if self.liveness_ttl_s < 2 * self.liveness_interval_s:
            raise ValueError("LIVENESS_TTL_S must be at least twice LIVENESS_INTERVAL_S")
        return self


def split_list(value: Any) -> Any:
    """A list setting from the environment: a JSON list or a comma/space separated string."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part for part in re.split(r"[\s,]+", text) if part]
    return value


class NetworkGuardSettings(BaseSettings):
    """Where and how often services that fetch user-supplied URLs (downloader, metadata) may connect: these
    settings govern every such fetch (see `jobcommon.netguard` and `jobcommon.host_limits`)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    download_allow_private_networks: bool = Field(
        default=False,
        description="Allow fetching from loopback/private/link-local addresses (tests, home setups).",
    )
    download_allowed_networks: Annotated[list[str], NoDecode, BeforeValidator(split_list)] = Field(
        default_factory=list,
        description="Non-public networks that may still be reached (CIDR list, e.g. "
        "'192.168.1.0/24,10.0.0.5'); checked against the address actually connected to.",
    )

    rate_limits: Annotated[tuple[HostRule, ...], NoDecode, BeforeValidator(parse_host_rules)] = Field(
        default=(),
        description="Fetch rate limits per remote host, shared by every replica (e.g. 'youtube.com=2/s; "
        "musicbrainz.org=1/s; *=10/s'); see `jobcommon.host_limits`. Empty: no limits.",
    )

    @field_validator("download_allowed_networks")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        return [str(network) for network in parse_networks(value)]


class AdmissionSettings(BaseSettings):
    """What a submission must pass (`jobcommon.admission`): the gateway's API submissions, and the janitor's
    for the jobs of periodic schedules (as their owner's). Give both services the same values."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    submit_rate_per_s: float = Field(
        default=50.0, gt=0, description="Per API key (and per owner for its schedules' jobs), on average."
    )
    submit_burst: int = Field(default=200, ge=1, description="Per API key (and owner's schedules), at once.")
    max_active_jobs: int = Field(
        default=10_000,
        ge=1,
        description="Per owner: unfinished (scheduled, queued, retrying or running) jobs at once; a job "
        "counts from its creation until it ends (429 beyond; a schedule's tick is skipped).",
    )
