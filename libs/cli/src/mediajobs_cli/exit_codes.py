"""What the CLI's exit status says, in one place (also shown by `mediajobs --help`)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    JOB_CANCELLED = 3
    NOT_FOUND = 4
    AUTH = 5
    API_ERROR = 6
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT, as shells report it), however many times it arrives (`stopping`)."""
    TERMINATED = 143
    """SIGTERM (128 + SIGTERM): a supervisor (`timeout`, systemd, docker stop) stopped the command."""


HELP = (
    "Exit codes: 0 succeeded / ok, 1 the job failed, 2 usage error (also a request the gateway refused as "
    "invalid, 422), 3 the job was cancelled, "
    "4 not found (404), 5 authentication or permission refused (401/403), "
    "6 other API error or gateway unreachable, 130 interrupted (Ctrl-C; 143 for SIGTERM; `queues -i` ends "
    "with 0, its normal end). A confirmation answered no does nothing and exits 0. `submit --wait` and "
    "`watch` end with the job's outcome."
)

OUTCOMES = {"succeeded": ExitCode.OK, "failed": ExitCode.JOB_FAILED, "cancelled": ExitCode.JOB_CANCELLED}


def for_status(status: str) -> ExitCode:
    """The exit code of a job that ended with `status` (a job still going counts as ok)."""
    return OUTCOMES.get(status, ExitCode.OK)


def for_http_status(status: int) -> ExitCode:
    if status == 422:  # the gateway refused what the command line asked for (a bad job type, field or value)
        return ExitCode.USAGE
    if status == 404:
        return ExitCode.NOT_FOUND
    if status in (401, 403):
        return ExitCode.AUTH
    return ExitCode.API_ERROR
