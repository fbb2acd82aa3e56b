"""Run the gateway: `python -m gateway` (binds GATEWAY_HOST:GATEWAY_PORT, default 127.0.0.1:8000)."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from typing import TYPE_CHECKING

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from jobcommon import configure_logging

if TYPE_CHECKING:
    from types import FrameType

log = logging.getLogger("mediajobs.gateway")

STARTUP_FAILURE = 3
"""uvicorn's exit status when the application did not start (it logged why)."""


class Server(uvicorn.Server):
    """uvicorn's server, except that SIGINT or SIGTERM before it serves ends the process at once, as the
    signal does by default. uvicorn only notes a signal then and waits for the application's start-up to
    end: against a Redis that does not answer, until its time-outs give up, and then the process ended as a
    failed start (exit status 3, a Redis traceback) rather than as stopped; signalling again changed
    nothing. Nothing has been served yet, so nothing is cut short."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.started:
            super().handle_exit(sig, frame)  # a graceful shutdown: open requests finish
            return
        log.warning("%s during start-up: stopping", signal.Signals(sig).name)
        logging.shutdown()  # flush the log before the process ends
        signal.signal(sig, signal.SIG_DFL)
        signal.raise_signal(sig)


def main() -> None:
    configure_logging("gateway")
    settings = GatewaySettings()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        loop="uvloop",
        http="httptools",
        forwarded_allow_ips=settings.forwarded_allow_ips,  # whose X-Forwarded-Proto makes a request https
    )
    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises the SIGINT it stopped for again, at the end
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
