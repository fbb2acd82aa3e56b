"""What every command shares: the gateway connection settings and the consoles."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer
from rich.console import Console

from mediajobs_cli.api import Api
from mediajobs_cli.config import Config


@dataclass
class Session:
    config: Config
    out: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))

    def api(self) -> Api:
        return Api(self.config)


def current(ctx: typer.Context) -> Session:
    session = ctx.find_root().obj
    if not isinstance(session, Session):
        raise RuntimeError("the mediajobs callback did not run")
    return session
