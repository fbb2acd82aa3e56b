"""Commands about the system: dead letters, queues, workers."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from mediajobs_cli import render
from mediajobs_cli.api import Api, Json
from mediajobs_cli.exit_codes import ExitCode
from mediajobs_cli.session import current


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
            session.out.print(render.dead_table(letters))
            return
        if not letters:
            session.out.print("no dead letters match")
            return
        path, word = ("/jobs/dead/retry", "retried") if retry_all else ("/jobs/dead/purge", "purged")
        only = {"error_type": error_type, "q": search}
        chosen = {"filter": {k: v for k, v in only.items() if v is not None}, "dry_run": True}
        more = max(0, int(api.json("POST", path, json=chosen)["matched"]) - len(letters))
        session.out.print(render.dead_table(letters))
        verb = "Retry" if retry_all else "Delete"
        if not yes:
            newer = f" (the oldest; {more} newer ones match too: run it again for them)" if more else ""
            if not ask(f"{verb} these {len(letters)} jobs{newer}?"):
                session.out.print("nothing done")  # a choice, not a failure: exit 0
                return
        ids = [letter["job"]["task_id"] for letter in letters]  # what was shown is what is acted on
        done = int(api.json("POST", path, json={"task_ids": ids})[word])
    session.out.print(f"{word} {done} of {len(letters)}")
    if done < len(letters):
        session.err.print(f"{len(letters) - done} were not {word} (retried, purged or gone meanwhile)")
        raise typer.Exit(ExitCode.API_ERROR)
    if more:
        session.out.print(f"{more} more match: run it again for them")


def ask(question: str) -> bool:
    """A yes/no question on the terminal (no is the default). No answer at all (stdin closed, as in a script
    that forgot --yes) is a usage error (exit 2); Ctrl-C is an interruption (exit 130); neither acts."""
    typer.echo(f"{question} [y/N]: ", nl=False)
    try:
        answer = input()
    except EOFError:
        typer.echo("\nno answer (stdin is closed): nothing done; --yes acts without asking", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    except KeyboardInterrupt:
        typer.echo("\ninterrupted: nothing done", err=True)
        raise typer.Exit(ExitCode.INTERRUPTED) from None
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
    with session.api() as api:
        if interval is None:
            session.out.print(render.queues_table(_queue_stats(api)))
            return
        with stopped_by_signals():
            try:
                if session.out.is_terminal:
                    _redraw(session.out, api, interval)
                else:
                    _print_each(session.out, api, interval)
            except Stop:
                return
            except BrokenPipeError:  # the reader went away (`| head`): stop as quietly
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return


class Stop(BaseException):
    """SIGINT or SIGTERM arrived: end the loop (exit 0). Not an Exception, as KeyboardInterrupt is not: no
    `except Exception` on the way (in httpx, say) takes it for an error of its own."""


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise `Stop` in the (only) thread while the block runs: a refresh loop ends
    cleanly whether a person presses Ctrl-C or a supervisor (`timeout`, systemd, docker stop) asks."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stop(signal.Signals(signum).name)

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _stamp() -> str:
    return f"queues at {render.when(datetime.now(UTC).isoformat())}"


def _redraw(console: Console, api: Api, interval: float) -> None:
    """On a terminal: one table redrawn in place. No auto-refresh: rich would redraw from a thread of its
    own, and the CLI stays one thread so that a signal always lands where it stops the loop (the table
    changes only when it is fetched anyway)."""
    first = render.queues_table(_queue_stats(api), title=_stamp())
    with Live(first, console=console, auto_refresh=False) as live:
        while True:
            time.sleep(interval)
            live.update(render.queues_table(_queue_stats(api), title=_stamp()), refresh=True)


def _print_each(console: Console, api: Api, interval: float) -> None:
    """Piped or to a file: one table per refresh, each under the time it was read, written at once (a
    reader such as `tee` or `tail -f` sees it then, not when a buffer fills)."""
    while True:
        table = render.queues_table(_queue_stats(api), title=_stamp())
        with _signals_held():  # a stop lands after the table, not between its title and its rows
            console.print(table)
            console.file.flush()
        time.sleep(interval)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (blocked) until the block is over, then act as usual."""
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)


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
