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

BULK_LIMIT = 1000
"""Most dead letters the API retries or purges per call."""


def dead(
    ctx: typer.Context,
    retry_all: Annotated[bool, typer.Option("--retry-all", help="Retry every matching one.")] = False,
    purge: Annotated[
        bool, typer.Option("--purge", help="Delete every matching one and its job record (admin key).")
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
    """List jobs that ran out of attempts (the newest --limit); --retry-all runs every matching one again,
    --purge deletes them (each after a preview and a yes; at most 1000 per call, the oldest first: run it
    again for the rest)."""
    if retry_all and purge:
        raise typer.BadParameter("choose --retry-all or --purge", param_hint="--purge")
    session = current(ctx)
    params = {"limit": limit, "error_type": error_type, "q": search}
    with session.api() as api:
        letters: list[Json] = api.json(
            "GET", "/jobs/dead", params={k: v for k, v in params.items() if v is not None}
        )
        if not retry_all and not purge:
            session.out.print(render.dead_table(letters))
            return
        path, word = ("/jobs/dead/retry", "retried") if retry_all else ("/jobs/dead/purge", "purged")
        chosen = {
            "filter": {k: v for k, v in {"error_type": error_type, "q": search}.items() if v is not None}
        }
        matched = int(api.json("POST", path, json={**chosen, "dry_run": True})["matched"])
        if not matched:
            session.out.print("no dead letters match")
            return
        session.out.print(render.dead_table(letters))
        verb = "Retry" if retry_all else "Delete"
        batch = min(matched, BULK_LIMIT)
        if not yes:
            more = f" (the oldest {batch} of {matched}; run it again for the rest)" if batch < matched else ""
            typer.confirm(f"{verb} these {batch} jobs{more}?", abort=True)
        outcome = api.json("POST", path, json=chosen)
    done, matched = int(outcome[word]), int(outcome["matched"])
    session.out.print(f"{word} {done} of {matched}")
    if done < min(matched, BULK_LIMIT):
        session.err.print(
            f"{min(matched, BULK_LIMIT) - done} were not {word} (retried, purged or gone meanwhile)"
        )
        raise typer.Exit(ExitCode.API_ERROR)
    if matched > done:
        session.out.print(f"{matched - done} more match: run it again for the next {BULK_LIMIT}")


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
