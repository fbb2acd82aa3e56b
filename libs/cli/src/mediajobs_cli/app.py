"""The `mediajobs` command: a client of the gateway's HTTP API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from mediajobs_cli import admin_commands, config, job_commands, safe_text, stopping
from mediajobs_cli.api import ApiError
from mediajobs_cli.exit_codes import HELP
from mediajobs_cli.key_commands import keys
from mediajobs_cli.schedule_commands import schedules
from mediajobs_cli.session import Session
from mediajobs_cli.stopping import Stopped

app = typer.Typer(
    help=f"mediajobs: submit, follow and manage background media jobs.\n\n{HELP}",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def connect(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option(help=f"Gateway URL [env MEDIAJOBS_URL; default {config.DEFAULT_URL}].")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="API key [env MEDIAJOBS_API_KEY; else ./var/dev-api-key from here upwards]."),
    ] = None,
) -> None:
    ctx.obj = Session(config.load(url, api_key))


for command in (
    job_commands.submit,
    job_commands.watch,
    job_commands.ls,
    job_commands.get,
    job_commands.result,
    job_commands.cancel,
    job_commands.retry,
    admin_commands.dead,
    admin_commands.queues,
    admin_commands.workers,
):
    app.command()(command)
app.add_typer(keys, name="keys")
app.add_typer(schedules, name="schedules")


def main() -> None:
    """The CLI's process: a stop signal ends any command cleanly, once (`stopping`); exits with the
    command's code, 128 + the signal's number when one stopped it (130 for Ctrl-C)."""
    stopping.install()
    try:
        try:
            app()
        except ApiError as exc:
            Console(stderr=True).print(
                safe_text.plain(f"error: {exc}", lines=True), highlight=False, soft_wrap=True
            )
            sys.exit(exc.code)
    except Stopped as stopped:
        sys.exit(stopped.exit_code)
    finally:
        stopping.finished()
