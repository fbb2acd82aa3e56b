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
(`jobcommon.schedules`). A tick's job is admitted as its owner's submission through the API would be
(`MAX_ACTIVE_JOBS`, the submission rate): a refused tick, like one whose job does not validate, is skipped
and recorded (the schedule's `refused` and `last_problem`), and the schedule moves on to its next tick.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from jobcommon import Admission, ConfigurationError, keys, utcnow
from jobcommon.cancellation import reraise_if_cancelling
from jobcommon.errors import IdempotencyKeyReused, RateLimited, ScheduleNotFound
from jobcommon.gcra import Rate
from jobcommon.metrics import SCHEDULE_TICKS, SCHEDULES_FAILING
from jobcommon.outcome import first_problem
from jobcommon.schedule_store import STORED, ScheduleStore
from jobcommon.schedules import (
    LATE_AFTER_S,
    ScheduleSpec,
    ScheduleView,
    fired_ticks,
    scheduled_request,
)
from jobcommon.submission import submit_job

if TYPE_CHECKING:
    from pathlib import Path

    from janitor.duties import Housekeeping

log = logging.getLogger("mediajobs.janitor")


@dataclass(frozen=True, slots=True)
class SchedulesFile:
    """What SCHEDULES_FILE defines: every schedule, and why the job of each one that does not validate now
    fails (by name)."""

    specs: list[ScheduleSpec]
    problems: dict[str, str]


def read_schedules_file(path: Path) -> list[ScheduleSpec]:
    """The schedules `path` defines (`[[schedule]]` tables); ConfigurationError naming what is wrong."""
    return load_schedules_file(path).specs


def load_schedules_file(path: Path) -> SchedulesFile:
    """The schedules `path` defines (`[[schedule]]` tables). A file that cannot be read, is not TOML, or
    holds a schedule that is wrong in itself (its name, timing, catch-up, an unknown field, run_at or
    delay_s in its job, a name used twice) is a ConfigurationError naming the schedule and the problem: the
    janitor does not start. A schedule whose job does not validate (what does depends on the running system:
    its job type's plugin and limits, the files a source names) is kept, with its problem logged and listed:
    its ticks make no job until it validates, and the janitor's other duties and schedules go on."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"SCHEDULES_FILE {path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"SCHEDULES_FILE {path}: not valid TOML (not UTF-8 text)") from None
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
    problems: dict[str, str] = {}
    for number, table in enumerate(tables, start=1):
        try:
            specs.append(ScheduleSpec.model_validate(table))
            continue
        except ValidationError as exc:
            problem = first_problem(exc)
        name = table.get("name", "?") if isinstance(table, dict) else "?"
        try:  # wrong only in what its job validates against now: kept, its ticks make no job meanwhile
            spec = ScheduleSpec.model_validate(table, context=STORED)
        except ValidationError as exc:
            raise ConfigurationError(
                f"SCHEDULES_FILE {path}: schedule #{number} ({name}): {first_problem(exc)}"
            ) from None
        specs.append(spec)
        problems[spec.name] = problem
        log.error(
            "SCHEDULES_FILE %s: schedule #%d (%s): its job does not validate: %s; its ticks make no job "
            "until it does (checked again at each tick), the other schedules run",
            path,
            number,
            spec.name,
            problem,
        )
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise ConfigurationError(f"SCHEDULES_FILE {path}: schedule name(s) used twice: {twice}")
    return SchedulesFile(specs, problems)


async def sync_schedules_file(store: ScheduleStore, path: Path | None) -> dict[str, int]:
    """Bring the file's schedules into Redis (no file: the file-defined ones are removed)."""
    read = load_schedules_file(path) if path is not None else SchedulesFile([], {})
    return await _sync(store, path, read)


async def _sync(store: ScheduleStore, path: Path | None, read: SchedulesFile) -> dict[str, int]:
    changes = await store.sync_file(read.specs, read.problems)
    if any(changes.values()):
        log.info("schedules from %s: %s", path or "no SCHEDULES_FILE", changes)
    return changes


class PeriodicJobs:
    """The janitor's `schedules` duty. SCHEDULES_FILE is read when the janitor is built (a file that is wrong
    in itself stops it from starting, saying what is wrong; a schedule whose job does not validate is logged
    and kept, see `load_schedules_file`) and synced into Redis by the duty's first run on the leader (so a
    janitor starting while Redis is away starts all the same; a failed sync is tried again next run). Every
    janitor replica should be given the same file: whichever leads syncs its own.

    Each report lists the schedules whose last tick made no job (`problems`: refused, or their job does not
    validate), so the janitor's health shows them between ticks too."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.file = load_schedules_file(path) if path is not None else SchedulesFile([], {})
        self.synced = False

    @property
    def specs(self) -> list[ScheduleSpec]:
        return self.file.specs

    async def __call__(self, hk: Housekeeping) -> dict[str, Any]:
        store = ScheduleStore(hk.redis)
        report: dict[str, Any] = {}
        if not self.synced:
            report["file"] = await _sync(store, self.path, self.file)
            self.synced = True
        report |= await fire_due(store, hk)
        problems = await store.problems()
        SCHEDULES_FAILING.set(len(problems))
        return report | {"problems": problems}


async def fire_due(store: ScheduleStore, hk: Housekeeping) -> dict[str, Any]:
    """Fire every due tick (once each), move each schedule to its next tick, count missed ticks. A tick whose
    job does not validate, or that its owner's quota or rate refuses, is skipped (`failed`, `refused`): the
    schedule moves on to its next tick, it is not tried again sooner."""
    now = utcnow()
    fired: list[str] = []
    missed_total = 0
    failed: dict[str, str] = {}
    refused: dict[str, str] = {}
    admission = _admission_rules(hk)
    for name, taken in await store.due(now):
        try:
            missed = await _fire(store, hk, name, taken, now, admission, Fired(fired, failed, refused))
        except Exception as exc:  # one broken schedule must not stop the others
            reraise_if_cancelling(exc)
            failed[name] = f"{type(exc).__name__}: {exc}"
            log.warning("schedule %s: %s", name, failed[name])
            continue
        missed_total += missed
    return {"fired": fired, "missed": missed_total, "failed": failed, "refused": refused}


@dataclass(frozen=True, slots=True)
class Fired:
    """What one run of the duty did, by schedule name."""

    fired: list[str]
    failed: dict[str, str]
    refused: dict[str, str]


def _admission_rules(hk: Housekeeping) -> tuple[int, Rate]:
    settings = hk.settings
    return settings.max_active_jobs, Rate(settings.submit_rate_per_s, settings.submit_burst)


def _admission(owner: str, rules: tuple[int, Rate]) -> Admission:
    """A scheduled job is admitted as its owner's submission through the API: at most MAX_ACTIVE_JOBS of the
    owner's jobs live, and the owner's schedules together submit at the rate one API key may."""
    max_active, rate = rules
    return Admission(max_active=max_active, rate_key=keys.submit_rate(f"schedules:{owner}"), rate=rate)


@dataclass(frozen=True, slots=True)
class TickOutcome:
    """What submitting one tick's job came to: its job, or why it made none."""

    task_id: str | None = None
    problem: str | None = None
    refused: bool = False
    """The owner's quota or rate refused it (`problem` says which)."""


async def _submit_tick(
    hk: Housekeeping, schedule: ScheduleView, taken: float, rules: tuple[int, Rate]
) -> TickOutcome:
    """Submit the job of `schedule`'s tick `taken`, as its owner's submission would be admitted."""
    try:
        request = scheduled_request(schedule.request)
    except ValidationError as exc:  # e.g. its job type's plugin is no longer installed: this tick fails
        return TickOutcome(problem=f"its job does not validate: {first_problem(exc)}")
    except ValueError as exc:  # run_at / delay_s in a request stored before they were refused
        return TickOutcome(problem=f"its job does not validate: {exc}")
    try:
        # spaced words: no client's Idempotency-Key (printable ASCII without spaces) can take a tick's
        created = await submit_job(
            hk.store,
            request,
            idempotency_key=f"schedule {schedule.name} {taken!r}",
            owner=schedule.owner,
            admission=_admission(schedule.owner, rules),
        )
    except RateLimited as exc:  # the owner's quota or rate: this tick is skipped, not retried
        return TickOutcome(problem=f"refused: {exc}", refused=True)
    except IdempotencyKeyReused:
        tick = datetime.fromtimestamp(taken, UTC).isoformat()
        log.info("schedule %s: the tick %s was fired already (with an earlier request)", schedule.name, tick)
        return TickOutcome()
    return TickOutcome(task_id=created.job.task_id)


async def _fire(
    store: ScheduleStore,
    hk: Housekeeping,
    name: str,
    taken: float,
    now: datetime,
    rules: tuple[int, Rate],
    done: Fired,
) -> int:
    """Fire one schedule's due tick (if its catch-up says so) and move it on; the ticks it missed."""
    try:
        schedule = await store.view(name)
    except ScheduleNotFound:
        await store.drop(name)
        return 0
    due = datetime.fromtimestamp(taken, UTC)
    if (now - due).total_seconds() > LATE_AFTER_S:  # missed ticks are walked: seconds after a long outage
        submit, missed, following = await asyncio.to_thread(
            fired_ticks, schedule, due, now, schedule.created_at
        )
    else:
        submit, missed, following = fired_ticks(schedule, due, now, schedule.created_at)
    outcome = await _submit_tick(hk, schedule, taken, rules) if submit else TickOutcome()
    task_id, problem = outcome.task_id, outcome.problem
    moved = await store.advance(
        name,
        taken=taken,
        following=following,
        task_id=task_id,
        missed=missed,
        refused=outcome.refused,
        problem=problem,
    )
    if not moved:
        return 0  # another replica, a pause or a delete moved it first
    if task_id is not None:
        done.fired.append(name)
        SCHEDULE_TICKS.labels("fired").inc()
        log.info("schedule %s fired job=%s (tick %s)", name, task_id, due.isoformat())
        if schedule.last_problem is not None:
            log.info("schedule %s makes its job again (before: %s)", name, schedule.last_problem)
    if problem is not None:
        (done.refused if outcome.refused else done.failed)[name] = problem
        SCHEDULE_TICKS.labels("refused" if outcome.refused else "invalid").inc()
        # said loudly when it starts or changes, quietly while it lasts (a tick every second would flood)
        level = logging.INFO if problem == schedule.last_problem else logging.WARNING
        log.log(level, "schedule %s: tick %s skipped, %s", name, due.isoformat(), problem)
    if missed:
        log.warning(
            "schedule %s: %d tick(s) missed up to %s (catch_up=%s)", name, missed, now, schedule.catch_up
        )
    return missed
