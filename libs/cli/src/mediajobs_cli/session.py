"""What every command shares: the gateway connection settings and the consoles."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer
from rich.console import Console

from mediajobs_cli.api import Api
from mediajobs_cli.config import Config

PIPED_WIDTH = 10_000
"""Output that is not a terminal is not wrapped to one: a table keeps one line per row (for grep, cut)."""


def _stdout() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=PIPED_WIDTH)


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
