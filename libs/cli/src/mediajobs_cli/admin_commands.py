"""Commands about the system: dead letters, queues, workers."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.live import Live

from mediajobs_cli import render
from mediajobs_cli.api import Api, ApiError, Json
from mediajobs_cli.exit_codes import ExitCode
from mediajobs_cli.session import current


def _matching(letters: list[Json], error_type: str | None) -> list[Json]:
    if error_type is None:
        return letters
    return [
        letter
        for letter in letters
        if (letter["job"].get("error") or {}).get("type") == error_type or letter["reason"] == error_type
    ]


def _retry_each(api: Api, letters: list[Json]) -> list[str]:
    """Retry every letter's job; the messages of those refused."""
    refused = []
    for letter in letters:
        task_id = letter["job"]["task_id"]
        try:
            api.request("POST", f"/jobs/{task_id}/retry")
        except ApiError as exc:
            refused.append(f"{task_id}: {exc}")
    return refused


def dead(
    ctx: typer.Context,
    retry_all: Annotated[bool, typer.Option("--retry-all", help="Retry every matching one.")] = False,
    error_type: Annotated[
        str | None, typer.Option("--filter", "-f", help="Only this error type (or reason, e.g. WorkerLost).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before retrying.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 1000,
) -> None:
    """List jobs that ran out of attempts; --retry-all runs them again (after a preview and a yes)."""
    session = current(ctx)
    with session.api() as api:
        letters = _matching(api.json("GET", "/jobs/dead", params={"limit": limit}), error_type)
        if not retry_all:
            session.out.print(render.dead_table(letters))
            return
        if not letters:
            session.out.print("no dead letters match")
            return
        session.out.print(render.dead_table(letters))
        if not yes:
            typer.confirm(f"Retry these {len(letters)} jobs?", abort=True)
        refused = _retry_each(api, letters)
    session.out.print(f"retried {len(letters) - len(refused)} of {len(letters)}")
    for message in refused:
        session.err.print(message, markup=False)
    if refused:
        raise typer.Exit(ExitCode.API_ERROR)


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
        try:
            with Live(render.queues_table(_queue_stats(api)), console=session.out) as live:
                while True:
                    time.sleep(interval)
                    live.update(render.queues_table(_queue_stats(api)))
        except KeyboardInterrupt:
            return


def workers(ctx: typer.Context) -> None:
    """Live service instances (admin key: health details)."""
    session = current(ctx)
    with session.api() as api:
        health = api.json("GET", "/jobs/health")
    if "services" not in health:
        raise ApiError("worker details need an admin key", ExitCode.AUTH)
    session.out.print(render.workers_table(health["services"]))
