"""Gateway settings (environment variables)."""

from __future__ import annotations

from pydantic import Field

from jobcommon import CommonSettings


class GatewaySettings(CommonSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
