"""Commands about the system: dead letters, queues, workers."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from mediajobs_cli import render
from mediajobs_cli.api import Api, Json
from mediajobs_cli.counts import counted, more_match, newer_ones, them, these_jobs
from mediajobs_cli.exit_codes import ExitCode
from mediajobs_cli.session import current
from mediajobs_cli.stopping import Stopped, held


def dead(
    ctx: typer.Context,
    retry_all: Annotated[
        bool, typer.Option("--retry-all", help="Retry the matching ones, the oldest --limit first.")
    ] = False,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge",
            help="Delete the matching ones and their job records, the oldest --limit first (admin key).",
        ),
    ] = False,
    error_type: Annotated[
        str | None, typer.Option("--filter", "-f", help="Only this error type (or reason, e.g. WorkerLost).")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Only those whose URL/title/error match.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before acting.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 1000,
) -> None:
    """List jobs that ran out of attempts (the newest --limit). --retry-all runs the oldest --limit matching
    ones again, --purge deletes them (as the API's bulk actions do, the oldest first, so that letters retried
    and dead again wait behind the rest): it shows them, asks (unless --yes), acts on exactly those and says
    how many more match (run it again for them)."""
    if retry_all and purge:
        raise typer.BadParameter("choose --retry-all or --purge", param_hint="--purge")
    session = current(ctx)
    acting = retry_all or purge
    params = {"limit": limit, "error_type": error_type, "q": search, "order": "oldest" if acting else None}
    with session.api() as api:
        letters: list[Json] = api.json(
            "GET", "/jobs/dead", params={k: v for k, v in params.items() if v is not None}
        )
        if not acting:
            session.out.print(render.dead_table(letters, session.out.width))
            return
        if not letters:
            session.out.print("no dead letters match")
            return
        path, word = ("/jobs/dead/retry", "retried") if retry_all else ("/jobs/dead/purge", "purged")
        only = {"error_type": error_type, "q": search}
        chosen = {"filter": {k: v for k, v in only.items() if v is not None}, "dry_run": True}
        more = max(0, int(api.json("POST", path, json=chosen)["matched"]) - len(letters))
        session.out.print(render.dead_table(letters, session.out.width))
        verb = "Retry" if retry_all else "Delete"
        if not yes:
            newer = f" (the oldest; {newer_ones(more)} too: run it again for {them(more)})" if more else ""
            if not ask(f"{verb} {these_jobs(len(letters))}{newer}?"):
                session.out.print("nothing done")  # a choice, not a failure: exit 0
                return
        ids = [letter["job"]["task_id"] for letter in letters]  # what was shown is what is acted on
        done = int(api.json("POST", path, json={"task_ids": ids})[word])
    session.out.print(f"{word} {done} of {len(letters)}")
    if done < len(letters):
        missed = counted(len(letters) - done, "was", "were")
        session.err.print(f"{missed} not {word} (retried, purged or gone meanwhile)")
        raise typer.Exit(ExitCode.API_ERROR)
    if more:
        session.out.print(f"{more_match(more)}: run it again for {them(more)}")


def ask(question: str) -> bool:
    """A yes/no question on the terminal (no is the default). No answer at all (stdin closed, as in a script
    that forgot --yes) is a usage error (exit 2); Ctrl-C is an interruption (exit 130, SIGTERM 143);
    neither acts."""
    try:
        typer.echo(f"{question} [y/N]: ", nl=False)
        answer = input()
    except EOFError:
        typer.echo("\nno answer (stdin is closed): nothing done; --yes acts without asking", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    except (KeyboardInterrupt, Stopped) as stop:  # KeyboardInterrupt: run outside the CLI's main
        typer.echo("\ninterrupted: nothing done", err=True)
        code = stop.exit_code if isinstance(stop, Stopped) else ExitCode.INTERRUPTED
        raise typer.Exit(code) from None
    if not sys.stdin.isatty():
        typer.echo()  # the answer was not echoed: end the question's line
    return answer.strip().lower() in ("y", "yes")


def _queue_stats(api: Api) -> dict[str, Any]:
    stats: dict[str, Any] = api.json("GET", "/jobs/list", params={"limit": 1})["queues"]
    return stats


def queues(
    ctx: typer.Context,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            "-i",
            min=0.2,
            help="Refresh every SECONDS until Ctrl-C or SIGTERM (piped: one table per refresh, each with "
            "its time).",
        ),
    ] = None,
) -> None:
    """Each queue's length, lag, pending, consumers, live workers and oldest waiting entry."""
    session = current(ctx)
    if interval is None:
        with session.api() as api:
            session.out.print(render.queues_table(_queue_stats(api)))
        return
    try:
        with session.api() as api:
            if session.out.is_terminal:
                _redraw(session.out, api, interval)
            else:
                _print_each(session.out, api, interval)
    except Stopped:  # Ctrl-C, SIGTERM (`timeout`, systemd, docker stop): its normal end, exit 0
        return
    except BrokenPipeError:  # the reader went away (`| head`): stop as quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _stamp() -> str:
    return f"queues at {render.when(datetime.now(UTC).isoformat())}"


def _redraw(console: Console, api: Api, interval: float) -> None:
    """On a terminal: one table redrawn in place, each time it was fetched (no auto-refresh: it changes only
    then). A stop signal lands between two frames, and the last one stays on the screen."""
    first = render.queues_table(_queue_stats(api), title=_stamp())
    with render.drawn_in_place(Live(first, console=console, auto_refresh=False)) as live:
        while True:
            time.sleep(interval)
            table = render.queues_table(_queue_stats(api), title=_stamp())
            with held():  # a stop lands after the frame, not inside it
                live.update(table, refresh=True)


def _print_each(console: Console, api: Api, interval: float) -> None:
    """Piped or to a file: one table per refresh, each under the time it was read, written at once (a
    reader such as `tee` or `tail -f` sees it then, not when a buffer fills)."""
    while True:
        table = render.queues_table(_queue_stats(api), title=_stamp())
        with held():  # a stop lands after the table, not between its title and its rows
            console.print(table)
            console.file.flush()
        time.sleep(interval)


def workers(ctx: typer.Context) -> None:
    """Live service replicas: queue, host, pid, the jobs each runs, last heartbeat, alive (admin key)."""
    session = current(ctx)
    with session.api() as api:
        replicas: list[Json] = api.json("GET", "/admin/workers")
    if not replicas:
        session.out.print("no live workers")
        return
    one_line = not session.out.is_terminal
    session.out.print(render.workers_table(replicas, session.out.width, one_line=one_line))
