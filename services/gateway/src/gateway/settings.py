"""Gateway settings (environment variables)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import NoDecode

from jobcommon import CommonSettings
from jobcommon.settings import AdmissionSettings, split_list


def proxy_addresses(entries: list[str]) -> list[str]:
    """Each entry an IP address or network (`10.0.0.0/8`), or `*` alone. Uvicorn itself would take a typo
    (`10.0.0.0/33`, `10.1.2.3/8`: host bits set) as a name no peer ever has, and trust no one silently."""
    if "*" in entries:
        if len(entries) > 1:
            raise ValueError("`*` (trust every peer) stands alone")
        return entries
    for entry in entries:
        try:
            if "/" in entry:
                ipaddress.ip_network(entry)
            else:
                ipaddress.ip_address(entry)
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or network: {exc}") from None
    return entries


class GatewaySettings(CommonSettings, AdmissionSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    metrics_public: bool = Field(
        default=False,
        description="Serve GET /metrics without an API key (for a Prometheus on a private network); "
        "otherwise it needs an admin key.",
    )
    disk_low_free_bytes: int = Field(
        default=2 * 1024**3,
        ge=0,
        description="Health reports MEDIA_ROOT's disk as low below this many free bytes.",
    )
    auth: bool = Field(
        default=True, description="Require API keys (AUTH=off: every caller is admin; trusted networks only)."
    )
    api_keys_file: Path | None = Field(
        default=None,
        description="JSON list of keys to provision at start: {name, owner, role, key | sha256}.",
    )
    gateway_allowed_hosts: Annotated[list[str], NoDecode, BeforeValidator(split_list)] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1"],
        description="Host headers answered (others get 400): guards a local gateway against DNS rebinding.",
    )
    gateway_cors_origins: Annotated[list[str], NoDecode, BeforeValidator(split_list)] = Field(
        default_factory=list, description="Browser origins allowed to call the API (none: no CORS headers)."
    )
    forwarded_allow_ips: Annotated[
        list[str], NoDecode, BeforeValidator(split_list), AfterValidator(proxy_addresses)
    ] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Peers (IP addresses, networks, or `*`) whose X-Forwarded-Proto/-For are believed: the "
        "TLS proxy in front, so an https request through it is https here (the login cookie gets Secure).",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    max_event_streams: int = Field(default=1000, ge=1, description="Open SSE streams per gateway process.")
    max_event_streams_per_key: int = Field(default=20, ge=1, description="Open SSE streams per API key.")
