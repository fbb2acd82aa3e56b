"""Run the gateway: `python -m gateway` (binds GATEWAY_HOST:GATEWAY_PORT, default 127.0.0.1:8000)."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from jobcommon import configure_logging


def main() -> None:
    configure_logging("gateway")
    settings = GatewaySettings()
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
