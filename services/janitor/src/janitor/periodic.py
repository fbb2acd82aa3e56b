"""Periodic jobs on the janitor: the `schedules` duty fires each due tick of every schedule once (only the
leader runs duties), and `SCHEDULES_FILE` defines schedules in TOML (`PeriodicJobs`: read at start, synced
into Redis by the duty).

    # schedules.toml
    [[schedule]]
    name = "nightly-thumbnails"
    cron = "30 3 * * *"
    timezone = "Europe/Berlin"
    request = { job_type = "image_thumbnail", source = "library/cover.jpg" }

    [[schedule]]
    name = "canary"
    every_s = 300
    catch_up = "skip"
    request = { job_type = "echo", message = "still alive" }

A tick submits its job with the idempotency key `schedule:<name>:<tick>` before the schedule moves past it
in one compare-and-set step: a leader that dies between the two leaves the tick to its successor, whose
submission returns the job already made. Missed ticks follow the schedule's `catch_up`
(`jobcommon.schedules`).
"""

from __future__ import annotations

import logging
import tomllib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from jobcommon import ConfigurationError, utcnow
from jobcommon.cancellation import reraise_if_cancelling
from jobcommon.errors import IdempotencyKeyReused, ScheduleNotFound
from jobcommon.outcome import first_problem
from jobcommon.schedule_store import ScheduleStore
from jobcommon.schedules import ScheduleSpec, fired_ticks
from jobcommon.submission import submit_job

if TYPE_CHECKING:
    from pathlib import Path

    from janitor.duties import Housekeeping

log = logging.getLogger("mediajobs.janitor")


def read_schedules_file(path: Path) -> list[ScheduleSpec]:
    """The schedules `path` defines (`[[schedule]]` tables); ConfigurationError naming what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"SCHEDULES_FILE {path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"SCHEDULES_FILE {path}: not valid TOML ({exc})") from None
    unknown = set(data) - {"schedule"}
    if unknown:
        raise ConfigurationError(
            f"SCHEDULES_FILE {path}: unknown table(s) {sorted(unknown)}; use [[schedule]]"
        )
    tables = data.get("schedule", [])
    if not isinstance(tables, list):
        raise ConfigurationError(f"SCHEDULES_FILE {path}: write each schedule as a [[schedule]] table")
    specs: list[ScheduleSpec] = []
    for number, table in enumerate(tables, start=1):
        try:
            specs.append(ScheduleSpec.model_validate(table))
        except ValidationError as exc:
            name = table.get("name", "?") if isinstance(table, dict) else "?"
            raise ConfigurationError(
                f"SCHEDULES_FILE {path}: schedule #{number} ({name}): {first_problem(exc)}"
            ) from None
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"SCHEDULES_FILE {path}: a schedule name is used twice")
    return specs


async def sync_schedules_file(store: ScheduleStore, path: Path | None) -> dict[str, int]:
    """Bring the file's schedules into Redis (no file: the file-defined ones are removed)."""
    specs = read_schedules_file(path) if path is not None else []
    return await _sync(store, path, specs)


async def _sync(store: ScheduleStore, path: Path | None, specs: list[ScheduleSpec]) -> dict[str, int]:
    changes = await store.sync_file(specs)
    if any(changes.values()):
        log.info("schedules from %s: %s", path or "no SCHEDULES_FILE", changes)
    return changes


class PeriodicJobs:
    """The janitor's `schedules` duty. SCHEDULES_FILE is read when the janitor is built (a bad file stops it
    from starting, saying what is wrong) and synced into Redis by the duty's first run on the leader (so a
    janitor starting while Redis is away starts all the same; a failed sync is tried again next run). Every
    janitor replica should be given the same file: whichever leads syncs its own."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.specs = read_schedules_file(path) if path is not None else []
        self.synced = False

    async def __call__(self, hk: Housekeeping) -> dict[str, Any]:
        store = ScheduleStore(hk.redis)
        report: dict[str, Any] = {}
        if not self.synced:
            report["file"] = await _sync(store, self.path, self.specs)
            self.synced = True
        return report | await fire_due(store, hk)


async def fire_due(store: ScheduleStore, hk: Housekeeping) -> dict[str, Any]:
    """Fire every due tick (once each), move each schedule to its next tick, count missed ticks."""
    now = utcnow()
    fired: list[str] = []
    missed_total = 0
    failed: dict[str, str] = {}
    for name, taken in await store.due(now):
        try:
            missed = await _fire(store, hk, name, taken, now, fired, failed)
        except Exception as exc:  # one broken schedule must not stop the others
            reraise_if_cancelling(exc)
            failed[name] = f"{type(exc).__name__}: {exc}"
            log.warning("schedule %s: %s", name, failed[name])
            continue
        missed_total += missed
    return {"fired": fired, "missed": missed_total, "failed": failed}


async def _fire(
    store: ScheduleStore,
    hk: Housekeeping,
    name: str,
    taken: float,
    now: datetime,
    fired: list[str],
    failed: dict[str, str],
) -> int:
    """Fire one schedule's due tick (if its catch-up says so) and move it on; the ticks it missed."""
    try:
        schedule = await store.schedule(name)
    except ScheduleNotFound:
        await store.drop(name)
        return 0
    due = datetime.fromtimestamp(taken, UTC)
    submit, missed, following = fired_ticks(schedule, due, now, schedule.created_at)
    task_id: str | None = None
    if submit:
        try:
            # spaced words: no client's Idempotency-Key (printable ASCII without spaces) can take a tick's
            created = await submit_job(
                hk.store, schedule.request, idempotency_key=f"schedule {name} {taken!r}", owner=schedule.owner
            )
            task_id = created.job.task_id
        except ValidationError as exc:  # e.g. its job type's plugin is no longer installed: this tick fails
            failed[name] = first_problem(exc)
            log.warning("schedule %s: its job does not validate any more: %s", name, failed[name])
        except IdempotencyKeyReused:
            log.info("schedule %s: the tick %s was fired already (with an earlier request)", name, due)
    if not await store.advance(name, taken=taken, following=following, task_id=task_id, missed=missed):
        return 0  # another replica, a pause or a delete moved it first
    if task_id is not None:
        fired.append(name)
        log.info("schedule %s fired job=%s (tick %s)", name, task_id, due.isoformat())
    if missed:
        log.warning(
            "schedule %s: %d tick(s) missed up to %s (catch_up=%s)", name, missed, now, schedule.catch_up
        )
    return missed
