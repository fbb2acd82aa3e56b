"""Following a job to its end: a live progress line on a terminal, plain lines otherwise."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.filesize import decimal
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.text import Text

from mediajobs_cli.api import Event, Json
from mediajobs_cli.render import STATUS_STYLES, drawn_in_place
from mediajobs_cli.safe_text import clean
from mediajobs_cli.stopping import held

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


def eta_text(seconds: float) -> str:
    """A download's own estimate of the time left: `<1 s`, `43 s`, `2m 05s`, `1h 02m` (never `0 s`)."""
    if seconds < 1:
        return "<1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def _bytes(progress: dict[str, Any]) -> list[str]:
    """`1.7 MB / 10.5 MB`, then shorter: `1.7/10.5 MB` (when both are in the same unit)."""
    done, total = progress.get("downloaded_bytes"), progress.get("total_bytes")
    if done is None:
        return []
    if not total:
        return [decimal(done)]
    done_text, total_text = decimal(done), decimal(total)
    variants = [f"{done_text} / {total_text}"]
    done_number, _, done_unit = done_text.partition(" ")
    total_number, _, total_unit = total_text.partition(" ")
    if done_unit == total_unit:
        variants.append(f"{done_number}/{total_number} {total_unit}")
    return variants


def _speed(progress: dict[str, Any]) -> list[str]:
    speed = progress.get("speed")
    if not speed:
        return []
    return [f"{decimal(int(speed))}/s", f"{decimal(int(speed), precision=0)}/s"]


def _items(progress: dict[str, Any]) -> list[str]:
    if not progress.get("items_total"):
        return []
    counted = f"{progress.get('items_done') or 0}/{progress['items_total']}"
    failed = f", {progress['items_failed']} failed" if progress.get("items_failed") else ""
    return [f"{counted} items{failed}", f"{counted} items", counted]


def transfer(progress: dict[str, Any]) -> str:
    """`12.3 MB / 40.0 MB · 2.1 MB/s · ETA 13 s` from whichever of those the worker reported."""
    eta = progress.get("eta")
    found = [_bytes(progress), _speed(progress), [f"ETA {eta_text(float(eta))}"] if eta is not None else []]
    return " · ".join(variants[0] for variants in [*found, _items(progress)] if variants)


def _elapsed(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


BAR_MIN, BAR_ROOMY, BAR_MAX = 10, 16, 40
"""The bar's width: shown only with room for BAR_MIN cells, grown to BAR_ROOMY before the worker's message
gets room, and to BAR_MAX with what is left after that."""
MESSAGE_MIN = 10
"""The worker's message is shown cut (with `…`) down to this many characters, and left out below."""
TRANSFER = frozenset({"bytes", "speed", "eta", "items"})
"""Fields shown as one group: `1.7 MB / 10.5 MB · 200.0 kB/s · ETA 43 s`."""


ID_LONG, ID_SHORT, ID_LONG_FROM = 12, 8, 100
"""A progress line shows the first ID_LONG characters of its job's id on a terminal at least ID_LONG_FROM
columns wide, ID_SHORT on a narrower one: set by the width alone, so that a narrower terminal never shows
more of it (and what a job reports, as it changes, never changes it)."""


def id_length(width: int) -> int:
    return ID_LONG if width >= ID_LONG_FROM else ID_SHORT


@dataclass
class _Field:
    name: str
    variants: list[str]
    """What the field can say, longest first (a bar's or a message's text is sized later)."""
    style: str = ""
    chosen: int | None = None
    """Index into `variants` of what is shown; None while left out."""
    width: int = 0
    """A bar's or a message's width (they have no variants)."""

    @property
    def text(self) -> str:
        return "" if self.chosen is None else self.variants[self.chosen]

    @property
    def length(self) -> int:
        return self.width if self.name in ("bar", "message") else len(self.text)


def _line_length(fields: list[_Field]) -> int:
    shown = [f for f in fields if f.chosen is not None]
    total = sum(f.length for f in shown)
    for before, after in itertools.pairwise(shown):
        total += 3 if before.name in TRANSFER and after.name in TRANSFER else 1  # " · " or " "
    return total


def _shortest(field: _Field) -> None:
    if field.name == "bar":
        field.chosen, field.width = 0, BAR_MIN
    elif field.name == "message":
        field.chosen, field.width = 0, min(len(field.variants[0]), MESSAGE_MIN)
    else:
        field.chosen = len(field.variants) - 1


def _lengthen(field: _Field, fields: list[_Field], width: int) -> None:
    """Its longer forms, the longest that still fits."""
    while field.chosen:
        field.chosen -= 1
        if _line_length(fields) > width:
            field.chosen += 1
            return


def fit(fields: list[_Field], width: int, required: frozenset[str], priority: Sequence[str]) -> None:
    """Choose which fields show, and how long each is, so that the line is at most `width` wide: the required
    ones always (in their shortest form), the others in `priority` order while they fit in their shortest
    form, then each one's longer forms in the same order, then the bar and the message grow."""
    by_name = {f.name: f for f in fields if f.variants}
    ranked = [by_name[name] for name in priority if name in by_name]
    for field in ranked:
        _shortest(field)
        if field.name not in required and _line_length(fields) > width:
            field.chosen = None
    for field in ranked:
        if field.chosen is not None and field.name not in ("bar", "message"):
            _lengthen(field, fields, width)
    for name, most in (("bar", BAR_ROOMY), ("message", None), ("bar", BAR_MAX)):
        grown = by_name.get(name)
        if grown is None or grown.chosen is None:
            continue
        limit = len(grown.variants[0]) if most is None else most
        grown.width = min(limit, grown.width + max(0, width - _line_length(fields)))


class ProgressLine:
    """A job's progress on one line as wide as the terminal at most: id, status, bar, percent, bytes, speed,
    ETA, items, time since it was first shown and the worker's message. Narrower terminals leave out the
    less useful parts (and shorten the id and the byte counts) instead of wrapping the line."""

    REQUIRED = frozenset({"id", "status", "percent"})
    PRIORITY = ("id", "status", "percent", "bar", "bytes", "items", "eta", "speed", "message", "elapsed")
    """What is left out first on a narrow terminal: the last."""
    ORDER = ("id", "status", "bar", "percent", "bytes", "speed", "eta", "items", "elapsed", "message")
    """Where each is on the line."""

    def __init__(self, task_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.task_id = task_id
        self.job: Json = {"task_id": task_id, "status": "queued", "progress": {}}
        self._clock = clock
        self._since = clock()

    def update(self, job: Json) -> None:
        self.job = job

    def _fields(self, width: int) -> list[_Field]:
        job = self.job
        progress = job.get("progress") or {}
        status = clean(job["status"])
        percent = 100.0 if status == "succeeded" else progress.get("percent")
        eta = progress.get("eta")
        message = clean(" ".join(str(progress.get("message") or "").split()))
        live = status not in TERMINAL
        eta_shown = [f"ETA {eta_text(float(eta))}"] if eta is not None and live else []
        fields = {
            "id": _Field("id", [clean(self.task_id[: id_length(width)])], "bold"),
            "status": _Field("status", [f"{status:>9}", status], STATUS_STYLES.get(status, "")),
            "bar": _Field("bar", [""]),
            "percent": _Field("percent", [f"{percent:5.1f}%"] if percent is not None else []),
            "bytes": _Field("bytes", _bytes(progress), "progress.download"),
            "speed": _Field("speed", _speed(progress) if live else [], "progress.download"),
            "eta": _Field("eta", eta_shown, "progress.download"),
            "items": _Field("items", _items(progress), "progress.download"),
            "elapsed": _Field("elapsed", [_elapsed(self._clock() - self._since)], "progress.elapsed"),
            "message": _Field("message", [message] if message else []),
        }
        return [fields[name] for name in self.ORDER]

    def render(self, console: Console, options: ConsoleOptions, width: int) -> Text:
        fields = self._fields(width)
        fit(fields, width, self.REQUIRED, self.PRIORITY)
        line = Text(no_wrap=True, overflow="ellipsis")
        previous: _Field | None = None
        for field in fields:
            if field.chosen is None:
                continue
            if previous is not None:
                line.append(" · " if previous.name in TRANSFER and field.name in TRANSFER else " ")
            if field.name == "bar":
                line.append_text(self._bar(console, options, field.width))
            elif field.name == "message":
                text = field.variants[0]
                line.append(text if len(text) <= field.width else text[: field.width - 1] + "…")
            else:
                line.append(field.text, style=field.style)
            previous = field
        line.truncate(width, overflow="ellipsis")
        return line

    def _bar(self, console: Console, options: ConsoleOptions, width: int) -> Text:
        status = self.job["status"]
        percent = 100.0 if status == "succeeded" else (self.job.get("progress") or {}).get("percent")
        bar = ProgressBar(
            total=None if percent is None and status not in TERMINAL else 100.0,
            completed=float(percent or 0.0),
            width=width,
        )
        segments = console.render(bar, options.update(width=width, height=1))
        drawn = Text()
        for segment in segments:
            if not segment.control and segment.text != "\n":
                drawn.append(segment.text, segment.style)
        drawn.pad_right(width - drawn.cell_len)  # without colour rich leaves out the part still to do
        return drawn

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.render(console, options, options.max_width)


def follow_live(events: Iterable[Event], console: Console, task_id: str) -> Json | None:
    """The progress line redrawn on every event (and 8 times a second: its time and the bar's pulse); the
    last job seen is returned. A stop signal never lands inside a frame."""
    last: Json | None = None
    line = ProgressLine(task_id)
    with drawn_in_place(Live(line, console=console, refresh_per_second=8, transient=False)) as live:
        for event in events:
            last = event.job
            with held():
                line.update(last)
                live.refresh()
    return last


def _plain_line(job: Json) -> str:
    progress = job.get("progress") or {}
    percent = progress.get("percent")
    parts = [str(job["task_id"]), str(job["status"])]
    if percent is not None:
        parts.append(f"{percent:.1f}%")
    for extra in (transfer(progress), progress.get("message") or ""):
        if extra:
            parts.append(str(extra))
    return clean(" ".join(parts))


def follow_plain(events: Iterable[Event], console: Console) -> Json | None:
    """One line per change (repeats left out) until the end, which the caller reports: for logs and pipes."""
    last: Json | None = None
    previous = ""
    for event in events:
        last = event.job
        line = _plain_line(last)
        if line != previous and last["status"] not in TERMINAL:
            with held():  # written whole, a stop signal or not
                console.print(line, markup=False, highlight=False, soft_wrap=True)
            previous = line
    return last


def follow(events: Iterable[Event], console: Console, task_id: str) -> Json | None:
    if console.is_terminal:
        return follow_live(events, console, task_id)
    return follow_plain(events, console)
