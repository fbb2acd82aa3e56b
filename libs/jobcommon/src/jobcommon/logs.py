"""Process logging: one line per record, prefixed with the service name (logs of all services interleave)."""

from __future__ import annotations

import logging
import os


def configure_logging(service_name: str) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)-7s [{service_name}] %(name)s: %(message)s",
        force=True,
    )
