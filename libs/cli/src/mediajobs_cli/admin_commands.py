"""Commands about the system: dead letters, queues, workers."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
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
            typer.confirm(f"{verb} these {len(letters)} jobs{newer}?", abort=True)
        ids = [letter["job"]["task_id"] for letter in letters]  # what was shown is what is acted on
        done = int(api.json("POST", path, json={"task_ids": ids})[word])
    session.out.print(f"{word} {done} of {len(letters)}")
    if done < len(letters):
        session.err.print(f"{len(letters) - done} were not {word} (retried, purged or gone meanwhile)")
        raise typer.Exit(ExitCode.API_ERROR)
    if more:
        session.out.print(f"{more} more match: run it again for them")


def _queue_stats(api: Api) -> dict[str, Any]:
    stats: dict[str, Any] = api.json("GET", "/jobs/list", params={"limit": 1})["queues"]
    return stats


def queues(
    ctx: typer.Context,
    interval: Annotated[
        float | None, typer.Option("--interval", "-i", min=0.2, help="Refresh every SECONDS (Ctrl-C stops).")
    ] = None,
) -> None:
    """Each queue's length, lag, pending, consumers, live workers and oldest waiting entry."""
    session = current(ctx)
    with session.api() as api:
        if interval is None:
            session.out.print(render.queues_table(_queue_stats(api)))
            return
        # No auto-refresh: rich would redraw from a thread of its own, and the CLI stays one thread so that
        # Ctrl-C always lands where it stops the loop (the table changes only when it is fetched anyway).
        try:
            first = render.queues_table(_queue_stats(api))
            with Live(first, console=session.out, auto_refresh=False) as live:
                while True:
                    time.sleep(interval)
                    live.update(render.queues_table(_queue_stats(api)), refresh=True)
        except KeyboardInterrupt:
            return


def workers(ctx: typer.Context) -> None:
    """Live service replicas: queue, host, pid, the jobs each runs, last heartbeat, alive (admin key)."""
    session = current(ctx)
    with session.api() as api:
        replicas: list[Json] = api.json("GET", "/admin/workers")
    session.out.print(render.workers_table(replicas))
