"""Commands about single jobs: submit, watch, ls, get, result, cancel, retry."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.text import Text

from mediajobs_cli import assignments, render
from mediajobs_cli.api import Api, Json
from mediajobs_cli.exit_codes import ExitCode, for_status
from mediajobs_cli.follow import TERMINAL, follow
from mediajobs_cli.safe_text import plain
from mediajobs_cli.session import Session, current
from mediajobs_cli.stopping import held


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table or json.")]
TaskId = Annotated[
    str,
    typer.Argument(
        help="The job's task id: whole, its first digits (e.g. 7ffd509e), as shortened (7ffd509e…0bed) or "
        "copied up to the ellipsis (7ffd509e…)."
    ),
]


def _wait(session: Session, api: Api, task_id: str) -> ExitCode:
    """Follow the job's events to its end, then show its outcome; the exit code is the outcome's."""
    last = follow(api.events(task_id), session.out, task_id)
    if last is None or last["status"] not in TERMINAL:
        last = api.job(task_id)
    _outcome(session, last)
    return for_status(last["status"])


def _said(task_id: object, status: object) -> Text:
    """`<task id> <status>`, the status in its colour."""
    return Text.assemble(plain(task_id), " ", render.status_text(status))


def _outcome(session: Session, job: Json) -> None:
    with held():  # the outcome is written whole, a stop signal or not
        session.out.print(_said(job["task_id"], job["status"]))
        if job.get("result") is not None:
            render.print_json(session.out, job["result"])
        if job.get("error"):
            error = job["error"]
            session.err.print(plain(f"{error.get('type')}: {error.get('message')}", lines=True))


def submit(
    ctx: typer.Context,
    job_type: Annotated[str, typer.Argument(help="echo, video_download, thumbnail, …")],
    url: Annotated[str | None, typer.Option(help="The job's url (downloads, video_info).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="key=value (JSON if it parses, else a string; a.b=1 nests)."),
    ] = None,
    priority: assignments.PriorityOption = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Follow the job to its end.")] = False,
) -> None:
    """Submit a job; prints its task id, or with --wait follows it and exits with its outcome."""
    session = current(ctx)
    body = assignments.job_request(job_type, url, set_, priority)
    with session.api() as api:
        job = api.submit(body)
        if not wait:
            session.out.print(plain(job["task_id"]))
            return
        raise typer.Exit(_wait(session, api, job["task_id"]))


def watch(ctx: typer.Context, task_id: TaskId) -> None:
    """Follow a job to its end (progress bar on a terminal) and exit with its outcome."""
    session = current(ctx)
    with session.api() as api:
        raise typer.Exit(_wait(session, api, api.task_id(task_id)))


def ls(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="scheduled, queued, running, retrying, succeeded, …")
    ] = None,
    job_type: Annotated[str | None, typer.Option("--type", "-t", help="Only this job type.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's jobs (admin keys).")] = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue's jobs.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Words of the URL, title or error (all must match).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Created at or after (ISO-8601, e.g. 2026-12-01T10:00Z).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Created at or before (ISO-8601).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500)] = 50,
    output: OutputOption = Output.table,
) -> None:
    """List jobs, newest first."""
    session = current(ctx)
    params = {
        "status": status,
        "job_type": job_type,
        "owner": owner,
        "queue": queue,
        "q": search,
        "since": since,
        "until": until,
        "limit": limit,
    }
    with session.api() as api:
        listing = api.json("GET", "/jobs/list", params={k: v for k, v in params.items() if v is not None})
    if output is Output.json:
        render.print_json(session.out, listing["jobs"])
    else:
        session.out.print(render.jobs_table(listing["jobs"], session.out.width))


def get(ctx: typer.Context, task_id: TaskId, output: OutputOption = Output.table) -> None:
    """Show a job: status, progress, attempts, error, result."""
    session = current(ctx)
    with session.api() as api:
        job = api.job(api.task_id(task_id))
    if output is Output.json:
        render.print_json(session.out, job)
    else:
        session.out.print(render.job_table(job))


def result(ctx: typer.Context, task_id: TaskId) -> None:
    """Print a succeeded job's result as JSON (exit 1 if it failed, 3 if cancelled, 6 if not done)."""
    session = current(ctx)
    with session.api() as api:
        task_id = api.task_id(task_id)
        job = api.job(task_id)
        if job["status"] == "succeeded":
            render.print_json(session.out, api.json("GET", f"/jobs/{task_id}/result")["result"])
            return
    session.err.print(plain(f"{task_id} is {job['status']}: no result"))
    raise typer.Exit(for_status(job["status"]) or ExitCode.API_ERROR)


def cancel(ctx: typer.Context, task_id: TaskId) -> None:
    """Cancel a waiting or running job (a running one stops within about a second)."""
    session = current(ctx)
    with session.api() as api:
        task_id = api.task_id(task_id)
        job = api.json("POST", f"/jobs/{task_id}/cancel")
    if job["status"] == "cancelled":
        session.out.print(_said(task_id, "cancelled"))
    else:  # 202 for a running job: asked to stop (`cancel_requested`), which it does within ~1 s
        session.out.print(
            plain(
                f"{task_id} cancel requested: it is {job['status']} and stops within about a second "
                f"(`mediajobs watch {task_id}` follows it to the end)"
            )
        )


def retry(ctx: typer.Context, task_id: TaskId) -> None:
    """Run a failed job again."""
    session = current(ctx)
    with session.api() as api:
        task_id = api.task_id(task_id)
        job = api.json("POST", f"/jobs/{task_id}/retry")
    session.out.print(_said(task_id, job["status"]))
