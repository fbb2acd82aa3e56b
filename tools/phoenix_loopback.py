"""Run `phoenix serve` with its OTLP/gRPC port on 127.0.0.1 instead of every interface.

Phoenix binds its HTTP port (UI, REST, OTLP/HTTP) to PHOENIX_HOST but its gRPC receiver to `[::]`
whatever PHOENIX_HOST says, and offers no setting for it (only the port, PHOENIX_GRPC_PORT). This launcher
runs inside Phoenix's own environment (`tools/traces.py` starts it with that venv's interpreter, so it imports
nothing from mediajobs) and rewrites the wildcard address of grpc.aio's `add_insecure_port` to the loopback
before starting Phoenix's command line. If grpc ever moves that method, Phoenix still starts, on every
interface, and a line on stderr says so.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

LOOPBACK = "127.0.0.1"


def _loopback(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if sep and host in {"[::]", "0.0.0.0", ""}:
        return f"{LOOPBACK}:{port}"
    return address


def bind_grpc_to_loopback() -> bool:
    """Patch grpc.aio's server so that a wildcard listening address becomes 127.0.0.1; False if it can't."""
    try:
        server_module: Any = importlib.import_module("grpc.aio._server")
        original: Any = server_module.Server.add_insecure_port
    except (ImportError, AttributeError):
        return False

    def add_insecure_port(self: Any, address: str) -> Any:
        return original(self, _loopback(address))

    server_module.Server.add_insecure_port = add_insecure_port
    return True


def main() -> None:
    if not bind_grpc_to_loopback():
        print(
            "phoenix_loopback: grpc.aio has no add_insecure_port; OTLP/gRPC binds every interface",
            file=sys.stderr,
        )
    phoenix_main: Any = importlib.import_module("phoenix.server.main").main
    sys.argv = ["phoenix", *sys.argv[1:]]
    phoenix_main()


if __name__ == "__main__":
    main()
