"""/jobs/schedules: periodic jobs (admin keys only): create, list with their next run, pause, resume, delete.

The janitor fires them (`janitor.periodic`); schedules defined in SCHEDULES_FILE are listed here too and can
be paused, but are changed or removed in the file.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, status

from gateway.auth import Admin
from gateway.public_view import PublicSchedule
from gateway.routes import Client
from gateway.schemas import Problem
from jobcommon.schedule_store import ScheduleStore
from jobcommon.schedules import NAME, ScheduleSpec, ScheduleView

router = APIRouter(prefix="/jobs/schedules", tags=["schedules"])

ScheduleName = Annotated[str, Path(pattern=NAME.pattern, description="The schedule's name.")]
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": Problem}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No schedule of that name."}
}


def _store(client: Client) -> ScheduleStore:
    return ScheduleStore(client.redis)


@router.get("", response_model=list[PublicSchedule])
async def list_schedules(client: Client, _: Admin) -> list[ScheduleView]:
    """Every schedule, by name, with its next run (null while paused), last run and counts."""
    return await _store(client).views()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PublicSchedule,
    responses={**CONFLICT, 422: {"model": Problem}},
)
async def create_schedule(spec: Annotated[ScheduleSpec, Body()], client: Client, key: Admin) -> ScheduleView:
    """A new schedule: `cron` (five fields, in `timezone`) or `every_s`, and the job (`request`) each tick
    submits, owned by the creating key's owner. 409 if the name is taken."""
    return await _store(client).create(spec, owner=key.owner)


@router.get("/{name}", response_model=PublicSchedule, responses=NOT_FOUND)
async def get_schedule(name: ScheduleName, client: Client, _: Admin) -> ScheduleView:
    return await _store(client).view(name)


@router.post("/{name}/pause", response_model=PublicSchedule, responses=NOT_FOUND)
async def pause_schedule(name: ScheduleName, client: Client, _: Admin) -> ScheduleView:
    """No more ticks until resumed (ticks while paused are not counted as missed)."""
    return await _store(client).set_paused(name, True)


@router.post("/{name}/resume", response_model=PublicSchedule, responses=NOT_FOUND)
async def resume_schedule(name: ScheduleName, client: Client, _: Admin) -> ScheduleView:
    """Ticks again, from the first one after now."""
    return await _store(client).set_paused(name, False)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses={**NOT_FOUND, **CONFLICT})
async def delete_schedule(name: ScheduleName, client: Client, _: Admin) -> None:
    """Delete a schedule made through the API (409 for one defined in SCHEDULES_FILE)."""
    await _store(client).delete(name)
