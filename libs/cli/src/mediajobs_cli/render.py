"""How jobs, queues, workers and keys are shown: rich tables on a terminal, JSON on request."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "retrying": "magenta",
    "scheduled": "bright_blue",
    "queued": "blue",
}


def status_text(status: str) -> str:
    style = STATUS_STYLES.get(status, "white")
    return f"[{style}]{status}[/{style}]"


def print_json(console: Console, value: Any) -> None:
    """Plain JSON (no colours, no wrapping) so that it parses when piped."""
    if console.is_terminal:
        console.print_json(json.dumps(value, default=str))
    else:
        print(json.dumps(value, default=str))


def _percent(job: Mapping[str, Any]) -> str:
    percent = (job.get("progress") or {}).get("percent")
    return "" if percent is None else f"{percent:.0f}%"


ERROR_MIN_WIDTH = 24
"""A job listing drops optional columns before its error text gets narrower than this."""

ALWAYS = ("task id", "status", "created")
OPTIONAL = ("type", "progress", "owner")
"""Shown in this order of preference when they fit (so left out owner first, then progress, then type)."""


def jobs_table(jobs: Iterable[Mapping[str, Any]], width: int = 200) -> RenderableType:
    """A job listing `width` characters wide at most. The task id (what a user copies into the next command),
    the status and the creation time are always shown whole; type, progress and owner when they fit beside
    an error column of ERROR_MIN_WIDTH; the error text wraps. Narrower than even that (below ~90 columns):
    one line per job (id, status, time, type) and its error on the next."""
    rows = []
    for job in jobs:
        error = job.get("error") or {}
        rows.append(
            {
                "task id": job["task_id"],
                "type": job["job_type"],
                "status": job["status"],
                "progress": _percent(job),
                "owner": job.get("owner") or "",
                "created": str(job.get("created_at", ""))[:19],
                "error": f"{error.get('type', '')}: {error.get('message', '')}" if error else "",
            }
        )

    def natural(name: str) -> int:
        return max([len(name), *(len(row[name]) for row in rows)]) + 2  # cell padding

    error_room = ERROR_MIN_WIDTH if any(row["error"] for row in rows) else natural("error")
    used = sum(natural(name) for name in ALWAYS) + error_room
    if used > width:
        return _job_lines(rows)
    shown = set(ALWAYS)
    for name in OPTIONAL:
        if used + natural(name) > width:
            break
        shown.add(name)
        used += natural(name)
    order = [n for n in ("task id", "type", "status", "progress", "owner", "created") if n in shown]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in order:
        table.add_column(name, no_wrap=True, min_width=natural(name) - 2)
    table.add_column("error", overflow="fold")
    for row in rows:
        cells = [status_text(row[n]) if n == "status" else escape(row[n]) for n in order]
        table.add_row(*cells, escape(row["error"]))
    return table


def _job_lines(rows: list[dict[str, str]]) -> Group:
    lines: list[Text] = []
    for row in rows:
        status = Text.from_markup(status_text(row["status"]))
        lines.append(Text.assemble(row["task id"], "  ", status, "  ", row["created"], "  ", row["type"]))
        if row["error"]:
            lines.append(Text("  " + row["error"], overflow="fold"))
    return Group(*lines)


def job_table(job: Mapping[str, Any]) -> Table:
    """One job, field by field."""
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for name, value in job.items():
        if value in (None, [], {}):
            continue
        if name == "status":
            table.add_row(name, status_text(str(value)))
        elif isinstance(value, dict | list):
            table.add_row(name, json.dumps(value, default=str))
        else:
            table.add_row(name, str(value))
    return table


def queues_table(queues: Mapping[str, Mapping[str, Any]]) -> Table:
    table = Table(
        "queue", "length", "lag (high/normal/low)", "pending", "consumers", "workers", "oldest waiting"
    )
    for name, stats in sorted(queues.items()):
        workers = int(stats.get("workers", 0))
        lanes = stats.get("lag_by_priority") or {}
        by_lane = "/".join(str(lanes.get(p, 0)) for p in ("high", "normal", "low"))
        table.add_row(
            name,
            str(stats.get("length", 0)),
            f"{stats.get('lag', 0)} ({by_lane})" if lanes else str(stats.get("lag", 0)),
            str(stats.get("pending", 0)),
            str(stats.get("consumers", 0)),
            str(workers) if workers else "[red]0 (no workers)[/red]",
            f"{float(stats.get('oldest_waiting_s', 0.0)):.1f} s",
        )
    return table


def workers_table(services: Iterable[Mapping[str, Any]]) -> Table:
    table = Table("service", "instance", "host", "pid", "details")
    known = {"service", "instance", "host", "pid"}
    for entry in sorted(services, key=lambda s: (str(s.get("service")), str(s.get("instance")))):
        rest = {k: v for k, v in entry.items() if k not in known}
        table.add_row(
            str(entry.get("service", "")),
            str(entry.get("instance", "")),
            str(entry.get("host", "")),
            str(entry.get("pid", "")),
            json.dumps(rest, default=str),
        )
    return table


def keys_table(keys: Iterable[Mapping[str, Any]]) -> Table:
    table = Table("id", "name", "owner", "role", "created")
    for key in keys:
        table.add_row(key["id"], key["name"], key["owner"], key["role"], str(key.get("created_at", ""))[:19])
    return table


def dead_table(letters: Iterable[Mapping[str, Any]]) -> Table:
    table = Table("task id", "type", "reason", "error type", "message")
    for letter in letters:
        job = letter["job"]
        error = job.get("error") or {}
        table.add_row(
            job["task_id"], job["job_type"], letter["reason"], error.get("type", ""), error.get("message", "")
        )
    return table


def schedules_table(schedules: Iterable[Mapping[str, Any]]) -> Table:
    table = Table("name", "when", "next run", "last run", "runs", "missed", "job", "owner")
    for entry in schedules:
        when = entry.get("cron") and f"{entry['cron']} ({entry.get('timezone', 'UTC')})"
        when = when or f"every {float(entry.get('every_s') or 0):g} s"
        request = dict(entry.get("request") or {})
        job = str(request.pop("job_type", "?")) + (
            f" {json.dumps(request, separators=(',', ':'))}" if request else ""
        )
        table.add_row(
            escape(str(entry.get("name", ""))) + (" (file)" if entry.get("source") == "file" else ""),
            escape(when),
            "[yellow]paused[/yellow]" if entry.get("paused") else str(entry.get("next_run_at") or "–"),
            str(entry.get("last_run_at") or "–"),
            str(entry.get("runs", 0)),
            str(entry.get("missed", 0)),
            escape(job),
            escape(str(entry.get("owner", ""))),
        )
    return table
