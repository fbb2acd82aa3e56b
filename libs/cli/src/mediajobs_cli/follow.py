"""Following a job to its end: a live rich progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from mediajobs_cli.api import Event, Json

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


def transfer(progress: dict[str, Any]) -> str:
    """`12.3 MB / 40.0 MB · 2.1 MB/s · ETA 13 s` from whichever of those the worker reported."""
    parts = []
    done, total = progress.get("downloaded_bytes"), progress.get("total_bytes")
    if done is not None:
        parts.append(decimal(done) + (f" / {decimal(total)}" if total else ""))
    if progress.get("speed"):
        parts.append(f"{decimal(int(progress['speed']))}/s")
    if progress.get("eta") is not None:
        parts.append(f"ETA {progress['eta']:.0f} s")
    if progress.get("items_total"):
        parts.append(f"{progress.get('items_done') or 0}/{progress['items_total']} items")
    return " · ".join(parts)


class TransferColumn(ProgressColumn):
    """Bytes, speed and ETA as the worker reports them (a download's own estimate, not rich's)."""

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get("transfer", "")), style="progress.download")


def _describe(job: Json) -> dict[str, Any]:
    progress = job.get("progress") or {}
    return {
        "completed": float(progress.get("percent") or 0.0),
        "description": job["status"],
        "message": progress.get("message") or "",
        "transfer": transfer(progress),
    }


def follow_live(events: Iterable[Event], console: Console, task_id: str) -> Json | None:
    """A rich progress bar redrawn on every event; the last job seen is returned."""
    last: Json | None = None
    columns = (
        TextColumn(f"[bold]{task_id[:12]}[/bold]"),
        TextColumn("{task.description:>9}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TransferColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
    )
    with Progress(*columns, console=console, transient=False, refresh_per_second=8) as bar:
        task: TaskID = bar.add_task("queued", total=100.0, message="", transfer="")
        for event in events:
            last = event.job
            bar.update(task, **_describe(last))
            if last["status"] == "succeeded":
                bar.update(task, completed=100.0)
    return last


def _plain_line(job: Json) -> str:
    progress = job.get("progress") or {}
    percent = progress.get("percent")
    parts = [job["task_id"], job["status"]]
    if percent is not None:
        parts.append(f"{percent:.1f}%")
    for extra in (transfer(progress), progress.get("message") or ""):
        if extra:
            parts.append(extra)
    return " ".join(parts)


def follow_plain(events: Iterable[Event], console: Console) -> Json | None:
    """One line per change (repeats left out) until the end, which the caller reports: for logs and pipes."""
    last: Json | None = None
    previous = ""
    for event in events:
        last = event.job
        line = _plain_line(last)
        if line != previous and last["status"] not in TERMINAL:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
            previous = line
    return last


def follow(events: Iterable[Event], console: Console, task_id: str) -> Json | None:
    if console.is_terminal:
        return follow_live(events, console, task_id)
    return follow_plain(events, console)
