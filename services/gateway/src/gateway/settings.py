"""Gateway settings (environment variables)."""

from __future__ import annotations

from pydantic import Field

from jobcommon import CommonSettings


class GatewaySettings(CommonSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    disk_low_free_bytes: int = Field(
        default=2 * 1024**3,
        ge=0,
        description="Health reports MEDIA_ROOT's disk as low below this many free bytes.",
    )
