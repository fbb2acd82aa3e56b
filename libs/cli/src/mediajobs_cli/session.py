"""What every command shares: the gateway connection settings and the consoles."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO, cast

import typer
from rich.console import Console

from mediajobs_cli.api import Api
from mediajobs_cli.config import Config

PIPED_WIDTH = 10_000
"""Output that is not a terminal is not wrapped to one: a table keeps one line per row (for grep, cut)."""


class _TrimmedLines:
    """A text stream whose complete lines lose their trailing spaces: a table pads every cell of its last
    column to the widest one (`get`'s values: every line ~300 characters wide), which piped output has no
    use for. The rest is the real stream's (its encoding: Rich draws its boxes in what that can encode)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._partial = ""
        self.encoding = stream.encoding
        self.errors = stream.errors

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        self._stream.writelines(line.rstrip(" ") + "\n" for line in lines)
        return len(text)

    def flush(self) -> None:
        self._stream.write(self._partial)  # an unfinished line goes as it is
        self._partial = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()


def _stdout() -> Console:
    console = Console()
    if console.is_terminal:
        return console
    return Console(file=cast("TextIO", _TrimmedLines(sys.stdout)), width=PIPED_WIDTH)  # what Rich uses of one


@dataclass
class Session:
    config: Config
    out: Console = field(default_factory=_stdout)
    err: Console = field(default_factory=lambda: Console(stderr=True))

    def api(self) -> Api:
        return Api(self.config)


def current(ctx: typer.Context) -> Session:
    session = ctx.find_root().obj
    if not isinstance(session, Session):
        raise RuntimeError("the mediajobs callback did not run")
    return session
