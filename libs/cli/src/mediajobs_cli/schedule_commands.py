"""`mediajobs schedules list|add|pause|resume|rm` (admin keys only): periodic jobs."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from mediajobs_cli import assignments, render
from mediajobs_cli.safe_text import plain
from mediajobs_cli.session import current

schedules = typer.Typer(
    help="Periodic jobs (admin): list with their next run, add, pause, resume, remove.", no_args_is_help=True
)

Name = Annotated[str, typer.Argument(help="The schedule's name.")]


class CatchUp(StrEnum):
    once = "once"
    skip = "skip"


@schedules.command("ls", hidden=True)  # as the top level's `ls`
@schedules.command("list")
def list_schedules(ctx: typer.Context) -> None:
    """Every schedule: when, its next and last run, runs and missed ticks, the job it submits."""
    session = current(ctx)
    with session.api() as api:
        session.out.print(render.schedules_table(api.json("GET", "/jobs/schedules")))


@schedules.command("add")
def add(
    ctx: typer.Context,
    name: Name,
    job_type: Annotated[str, typer.Argument(help="The job each tick submits: echo, video_download, …")],
    cron: Annotated[str | None, typer.Option(help="Five-field cron expression, e.g. '30 3 * * *'.")] = None,
    every: Annotated[float | None, typer.Option("--every", help="Or: every SECONDS.", min=1)] = None,
    timezone: Annotated[str, typer.Option("--tz", help="IANA time zone of the cron expression.")] = "UTC",
    catch_up: Annotated[
        CatchUp, typer.Option(help="Ticks missed while nothing ran: run once for all, or skip them.")
    ] = CatchUp.once,
    url: Annotated[str | None, typer.Option(help="The job's url (downloads, video_info).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="key=value of the job (JSON if it parses; a.b=1 nests)."),
    ] = None,
    priority: assignments.PriorityOption = None,
) -> None:
    """Add a schedule (--cron or --every) submitting JOB_TYPE with the --set fields at each tick."""
    session = current(ctx)
    request = assignments.job_request(job_type, url, set_, priority)
    body = {
        "name": name,
        "cron": cron,
        "every_s": every,
        "timezone": timezone,
        "catch_up": catch_up.value,
        "request": request,
    }
    with session.api() as api:
        made = api.json("POST", "/jobs/schedules", json=body)
    session.out.print(plain(f"added {made['name']}: next run {render.when(made['next_run_at'])}"))


@schedules.command("pause")
def pause(ctx: typer.Context, name: Name) -> None:
    """No more ticks until resumed."""
    session = current(ctx)
    with session.api() as api:
        api.json("POST", f"/jobs/schedules/{name}/pause")
    session.out.print(plain(f"paused {name}"))


@schedules.command("resume")
def resume(ctx: typer.Context, name: Name) -> None:
    """Tick again, from the first tick after now."""
    session = current(ctx)
    with session.api() as api:
        resumed = api.json("POST", f"/jobs/schedules/{name}/resume")
    session.out.print(plain(f"resumed {name}: next run {render.when(resumed['next_run_at'])}"))


@schedules.command("rm")
def remove(ctx: typer.Context, name: Name) -> None:
    """Remove a schedule made through the API (one from SCHEDULES_FILE is removed in the file)."""
    session = current(ctx)
    with session.api() as api:
        api.request("DELETE", f"/jobs/schedules/{name}")
    session.out.print(plain(f"removed {name}"))
