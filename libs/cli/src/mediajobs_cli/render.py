"""How jobs, queues, workers and keys are shown: rich tables on a terminal, JSON on request.

Every value from the server or the user goes into a table as a `safe_text.plain` Text: never read as markup,
its control and invisible characters shown as escapes (so no value can restyle, move or clear anything)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.live import Live
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from mediajobs_cli.safe_text import clean, json_text, plain
from mediajobs_cli.stopping import held

STATUS_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "retrying": "magenta",
    "scheduled": "bright_blue",
    "queued": "blue",
}


def status_text(status: object) -> Text:
    """A job's status in its colour."""
    return plain(status, style=STATUS_STYLES.get(str(status), "white"))


def when(value: Any, zone: tzinfo | None = None) -> str:
    """A time from the API (ISO-8601 in UTC) in local time (or `zone`) with its offset, to the second:
    `2026-12-06T06:22:08+01:00`, which `ls --since` takes back as it is. Anything else is shown as it is."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return str(value)
    moment = _moment(value)
    return value if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")


def short_time(value: Any, zone: tzinfo | None = None) -> list[str]:
    """A time as `when` shows it, then shorter, to the minute and without its offset (still local, as
    `ls --since` reads a time without one): `2026-12-06 06:22`, then `12-06 06:22`."""
    whole = when(value, zone)
    moment = _moment(value) if isinstance(value, str) else None
    if moment is None:
        return [whole]
    local = moment.astimezone(zone)
    return [whole, local.strftime("%Y-%m-%d %H:%M"), local.strftime("%m-%d %H:%M")]


def short_id(task_id: str) -> str:
    """A task id as the dashboard shortens it, `7ffd509e…0bed` (what every command takes back)."""
    return task_id if len(task_id) <= 13 else f"{task_id[:8]}…{task_id[-4:]}"


def _moment(text: str) -> datetime | None:
    """An API time (ISO-8601; UTC when it names no zone), or None if `text` is none."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def ago(value: Any, now: datetime | None = None) -> str:
    """How long before `now` an API time was: `just now`, `4 s ago`, `3 min ago`, `2 h ago`, `5 d ago`."""
    if not isinstance(value, str):
        return ""
    moment = _moment(value)
    if moment is None:
        return value
    seconds = max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 1:
        return "just now"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    return f"{seconds // 86400:.0f} d ago"


@contextlib.contextmanager
def drawn_in_place(live: Live) -> Iterator[Live]:
    """A live display, started and stopped whole: a stop signal (Ctrl-C) lands before or after either, never
    inside, so its last frame is always drawn and the terminal's cursor always shown again."""
    try:
        with held():
            live.start(refresh=True)
        yield live
    finally:
        with held():
            live.stop()


def print_json(console: Console, value: Any) -> None:
    """Plain JSON (no colours, no wrapping) so that it parses when piped. Both escape what is not plain ASCII
    (`\\u001b`, `\\u202e`): nothing in it reaches the terminal as a control."""
    if console.is_terminal:  # coloured as rich's print_json does, but with its other text shown as it reads
        shown = json_text(value)
        console.print(JSONHighlighter()(Text(shown, no_wrap=True)), soft_wrap=True)
    else:
        print(json.dumps(value, default=str))


def _percent(job: Mapping[str, Any]) -> str:
    percent = (job.get("progress") or {}).get("percent")
    return "" if percent is None else f"{percent:.0f}%"


ERROR_MIN_WIDTH = 24
"""A job listing drops optional columns before its error text gets narrower than this."""
ERROR_WORD_ROOM = 40
"""Optional columns are also left out while the error column is narrower than its longest word (up to this
many characters): a word is split only where it is longer than the column could be."""

ALWAYS = ("task id", "status", "created")
OPTIONAL = ("type", "progress", "owner")
"""Shown in this order of preference when they fit (so left out owner first, then progress, then type)."""
INDENT = 2
"""How far a job's further lines (its type, error) are indented below its first, in a line per job."""


def _longest_word(text: str) -> int:
    return max((Text(word).cell_len for word in text.split()), default=0)


def jobs_table(
    jobs: Iterable[Mapping[str, Any]], width: int = 200, zone: tzinfo | None = None
) -> RenderableType:
    """A job listing `width` characters wide at most. The task id (what a user copies into the next command),
    the status and the creation time are always shown whole; type, progress and owner when they fit beside
    an error column of ERROR_MIN_WIDTH, wide enough for its longest word (up to ERROR_WORD_ROOM); the error
    text wraps between words. Narrower than even that (below ~95 columns): a line per job (see `_job_lines`).
    Times are local (or `zone`), with their offset."""
    rows = []
    for job in jobs:
        error = job.get("error") or {}
        row = {
            "task id": job["task_id"],
            "type": job["job_type"],
            "status": job["status"],
            "progress": _percent(job),
            "owner": job.get("owner") or "",
            "created": when(job.get("created_at"), zone),
            "error": f"{error.get('type', '')}: {error.get('message', '')}" if error else "",
        }
        rows.append({name: clean(value) for name, value in row.items()})
    times = [short_time(job.get("created_at"), zone) for job in jobs]

    def natural(name: str) -> int:  # with its padding and the column divider after it (all blank)
        return max([len(name), *(Text(row[name]).cell_len for row in rows)]) + 3

    errors = any(row["error"] for row in rows)
    error_room = ERROR_MIN_WIDTH if errors else len("error")  # the last column: no padding at the edge
    used = sum(natural(name) for name in ALWAYS) + error_room
    if used > width:
        return _job_lines(rows, [[clean(t) for t in variants] for variants in times], width)
    if errors:  # room for the longest word before any optional column
        longest = max(_longest_word(row["error"]) for row in rows)
        used += max(0, min(longest, ERROR_WORD_ROOM) - ERROR_MIN_WIDTH)
    shown = set(ALWAYS)
    for name in OPTIONAL:
        if used + natural(name) > width:
            break
        shown.add(name)
        used += natural(name)
    order = [n for n in ("task id", "type", "status", "progress", "owner", "created") if n in shown]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in order:
        table.add_column(name, no_wrap=True, min_width=natural(name) - 3)
    table.add_column("error", overflow="fold")
    for row in rows:
        cells = [status_text(row[n]) if n == "status" else Text(row[n]) for n in order]
        table.add_row(*cells, Text(row["error"]))
    return table


def _first_line_forms(
    rows: list[dict[str, str]], times: list[list[str]], width: int
) -> tuple[bool, int | None]:
    """How a line per job says each job's id and time so that `id  status  time` fits `width` for every
    job: (whether the id is shortened, which of its time's forms), the whole id and time where they fit,
    else the id shortened (`7ffd509e…0bed`), then the time (to the minute, then without its year). The time
    is None where even the shortest does not fit: it goes to the job's next line."""
    status = max(Text(row["status"]).cell_len for row in rows)
    forms = max(len(variants) for variants in times)
    for shortened in (False, True):
        for form in range(forms if shortened else 1):
            widest = max(
                _id_len(row["task id"], shortened) + 2 + status + 2 + Text(_form(variants, form)).cell_len
                for row, variants in zip(rows, times, strict=True)
            )
            if widest <= width:
                return shortened, form
    return True, None


def _id_len(task_id: str, shortened: bool) -> int:
    return Text(short_id(task_id) if shortened else task_id).cell_len


def _form(variants: list[str], form: int) -> str:
    return variants[min(form, len(variants) - 1)]


def _job_lines(rows: list[dict[str, str]], times: list[list[str]], width: int) -> Group:
    """A line per job: its id, status and creation time on one line that fits `width` (the id shortened as
    the dashboard shows it, `7ffd509e…0bed`, and then the time, where the whole ones do not fit), and its type
    where it fits too; the rest of it (the type where it did not fit, the error) below, indented, wrapped
    between words (a word longer than the line is folded)."""
    shortened, form = _first_line_forms(rows, times, width)
    lines: list[RenderableType] = []
    for row, variants in zip(rows, times, strict=True):
        task_id = short_id(row["task id"]) if shortened else row["task id"]
        first = Text.assemble(task_id, "  ", status_text(row["status"]), overflow="fold")
        below = []
        if form is None:  # the longest form that fits on a line of its own
            room = width - INDENT
            below.append(next((v for v in variants if Text(v).cell_len <= room), variants[-1]))
        else:
            first.append("  " + _form(variants, form))
        if first.cell_len + 2 + Text(row["type"]).cell_len <= width:
            first.append("  " + row["type"])
        else:
            below.append(row["type"])
        if row["error"]:
            below.append(row["error"])
        lines.append(first)
        if below:
            lines.append(Padding(Text("  ".join(below), overflow="fold"), (0, 0, 0, INDENT), expand=False))
    return Group(*lines)


def job_table(job: Mapping[str, Any], zone: tzinfo | None = None) -> Table:
    """One job, field by field; its times (`created_at`, `started_at`, …, and those inside its progress,
    errors and attempt log: `updated_at`, `at`, `queued_at`, …) all local (or in `zone`), with their offset.
    What was submitted (`request`) and what it produced (`result`) are shown as they are."""
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in job.items():
        if value in (None, [], {}):
            continue
        if name == "status":
            shown = status_text(value)
        elif isinstance(value, dict):  # progress: what the worker reported (its nulls say nothing)
            kept = {k: v for k, v in value.items() if v is not None}
            shown = Text(json_text(kept if name in AS_SENT else _local_times(kept, zone), indent=None))
        elif isinstance(value, list):
            shown = Text(json_text(value if name in AS_SENT else _local_times(value, zone), indent=None))
        elif name.endswith("_at"):
            shown = plain(when(value, zone))
        else:
            shown = plain(value)
        table.add_row(plain(name), shown)
    return table


AS_SENT = frozenset({"request", "result"})
"""A job's fields that hold what a user sent or a job produced: their times are not the job's own."""


def _local_times(value: Any, zone: tzinfo | None) -> Any:
    """`value` (a job's progress, errors, attempt log) with each time in it (a key `at` or `…_at`) as `when`
    shows it."""
    if isinstance(value, dict):
        return {
            key: when(item, zone) if _is_time(key, item) else _local_times(item, zone)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_local_times(item, zone) for item in value]
    return value


def _is_time(key: str, value: Any) -> bool:
    return isinstance(value, str) and (key == "at" or key.endswith("_at"))


def queues_table(queues: Mapping[str, Mapping[str, Any]], title: str | None = None) -> Table:
    table = Table(
        "queue",
        "length",
        "lag (high/normal/low)",
        "pending",
        "consumers",
        "workers",
        "oldest waiting",
        title=title,
        title_justify="left",
    )
    for name, stats in sorted(queues.items()):
        workers = int(stats.get("workers", 0))
        lanes = stats.get("lag_by_priority") or {}
        by_lane = "/".join(str(lanes.get(p, 0)) for p in ("high", "normal", "low"))
        table.add_row(
            plain(name),
            plain(stats.get("length", 0)),
            plain(f"{stats.get('lag', 0)} ({by_lane})" if lanes else stats.get("lag", 0)),
            plain(stats.get("pending", 0)),
            plain(stats.get("consumers", 0)),
            plain(workers) if workers else Text("0 (no workers)", style="red"),
            plain(f"{float(stats.get('oldest_waiting_s', 0.0)):.1f} s"),
        )
    return table


WORKER_COLUMNS = ("service", "queue", "host", "pid", "busy", "running jobs", "heartbeat")
WORKER_OPTIONAL = ("host", "pid", "busy")
"""Left out in this order on a terminal too narrow for every column (a task id is never cut)."""


def workers_table(
    replicas: Iterable[Mapping[str, Any]],
    width: int = 200,
    one_line: bool = False,
    now: datetime | None = None,
) -> Table:
    """One row per service replica (GET /admin/workers): its service and queue, host and pid, how many of
    its slots are busy, the ids of the jobs it runs (one a line; all on one line with `one_line`, for grep)
    and how long ago its last heartbeat was (`gone` when its process no longer proves it lives). On a
    terminal narrower than `width` needs, host, pid and busy are left out, in that order."""
    rows = []
    for entry in sorted(replicas, key=lambda r: (str(r.get("service")), str(r.get("instance")))):
        running = [clean(t) for t in entry.get("running") or []]
        concurrency = entry.get("concurrency")
        heartbeat = ago(entry.get("last_heartbeat"), now) or "–"
        rows.append(
            {
                "service": clean(entry.get("service", "")),
                "queue": clean(entry.get("queue") or "–"),
                "host": clean(entry.get("host") or ""),
                "pid": clean(entry.get("pid") or ""),
                "busy": clean(f"{len(running)}/{concurrency}" if concurrency else len(running)),
                "running jobs": (" " if one_line else "\n").join(running) or "idle",
                "heartbeat": clean(heartbeat if entry.get("alive", True) else f"{heartbeat}, gone"),
                "gone": "" if entry.get("alive", True) else "1",
            }
        )

    def natural(name: str) -> int:
        cells = [line for row in rows for line in row[name].splitlines()]
        return max([len(name), *(Text(cell).cell_len for cell in cells)]) + 2  # cell padding

    shown = list(WORKER_COLUMNS)
    for name in WORKER_OPTIONAL:
        if sum(natural(n) for n in shown) - 2 <= width:  # no padding at the table's edges
            break
        shown.remove(name)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in shown:
        table.add_column(name, no_wrap=name in ("running jobs", "pid", "busy"), overflow="fold")
    for row in rows:
        cells = [Text(row[name]) for name in shown]
        if row["gone"]:
            cells[-1].stylize("red")
        if row["running jobs"] == "idle":
            cells[shown.index("running jobs")].stylize("dim")
        table.add_row(*cells)
    return table


def keys_table(keys: Iterable[Mapping[str, Any]]) -> Table:
    """API keys: id, name, owner, role, created (never the key itself)."""
    table = Table("id", "name", "owner", "role", "created")
    table.columns[0].no_wrap = True  # what `keys revoke` takes
    for key in keys:
        fields = (key.get("id", ""), key.get("name", ""), key.get("owner", ""), key.get("role", ""))
        table.add_row(*map(plain, fields), plain(when(key.get("created_at"))))
    return table


DEAD_COLUMNS = ("task id", "type", "reason", "error type")


def dead_table(letters: Iterable[Mapping[str, Any]], width: int = 200) -> RenderableType:
    """Dead letters, `width` characters wide at most: the job's id (what a user copies), type, why it died
    and its error type, each whole on one line, and its error message in the room left, wrapped (long words
    folded) to be read whole. Where that room would be narrower than ERROR_MIN_WIDTH: a line per letter
    and its message on the next."""
    rows = []
    for letter in letters:
        job = letter["job"]
        error = job.get("error") or {}
        fields = (job["task_id"], job["job_type"], letter.get("reason", ""), error.get("type", ""))
        rows.append([*map(clean, fields), clean(error.get("message", ""))])
    naturals = [
        max([len(name), *(Text(row[i]).cell_len for row in rows)]) for i, name in enumerate(DEAD_COLUMNS)
    ]
    if sum(n + 3 for n in naturals) + 4 + ERROR_MIN_WIDTH > width:  # a cell's padding and border each
        return Group(*_dead_lines(rows))
    table = Table(*DEAD_COLUMNS, "message")
    for column in table.columns[:-1]:
        column.no_wrap = True
    table.columns[-1].overflow = "fold"
    for row in rows:
        table.add_row(*map(Text, row))
    return table


def _dead_lines(rows: list[list[str]]) -> Iterator[Text]:
    for *fields, message in rows:
        yield Text("  ".join(filter(None, fields)), overflow="fold")
        if message:
            yield Text(f"  {message}", overflow="fold")


def schedules_table(schedules: Iterable[Mapping[str, Any]]) -> Table:
    table = Table("name", "when", "next run", "last run", "runs", "missed", "job", "owner")
    for entry in schedules:
        timing = entry.get("cron") and f"{entry['cron']} ({entry.get('timezone', 'UTC')})"
        timing = timing or f"every {float(entry.get('every_s') or 0):g} s"
        request = dict(entry.get("request") or {})
        job = str(request.pop("job_type", "?")) + (
            f" {json.dumps(request, separators=(',', ':'))}" if request else ""
        )
        name = plain(entry.get("name", ""))
        if entry.get("source") == "file":
            name.append(" (file)")
        table.add_row(
            name,
            plain(timing),
            Text("paused", style="yellow")
            if entry.get("paused")
            else plain(when(entry.get("next_run_at")) or "–"),
            plain(when(entry.get("last_run_at")) or "–"),
            plain(entry.get("runs", 0)),
            plain(entry.get("missed", 0)),
            plain(job),
            plain(entry.get("owner", "")),
        )
    return table
