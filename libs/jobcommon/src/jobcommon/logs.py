"""Process logging: one line per record, prefixed with the service name (logs of all services interleave),
secrets masked (`jobcommon.redaction`)."""

from __future__ import annotations

import logging
import os

from jobcommon.redaction import Redactor


def configure_logging(service_name: str) -> None:
    """One handler on the root logger; every record passes the secret redactor first."""
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)-7s [{service_name}] %(name)s: %(message)s",
        force=True,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(Redactor())
