"""Process logging: one line per record, secrets masked (`jobcommon.redaction`), each record carrying the
service and the job it is about (`jobcommon.log_context`).

`LOG_FORMAT=console` (the default; `task dev` interleaves every service's lines, so each is prefixed with
the service name) or `LOG_FORMAT=json` (deployments: one JSON object per line with `time`, `level`,
`logger`, `message`, `service`, `task_id`, `job_type`, `attempt`, `trace_id`, `span_id`, and `exception`
when there is one).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

from jobcommon.log_context import FIELDS, JobFields
from jobcommon.redaction import Redactor, redact

FORMATS = ("console", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record on one line; the job fields left out when empty."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(service_name: str) -> None:
    """One handler on the root logger; every record gets the job fields and passes the secret redactor."""
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    log_format = os.environ.get("LOG_FORMAT", "console").strip().lower()
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)-7s [{service_name}] %(name)s: %(message)s",
        force=True,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(JobFields(service_name))
        handler.addFilter(Redactor())
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
