"""Periodic jobs: a schedule names a job (`job_type` + request) and when it runs — a cron expression (in a
time zone) or a fixed interval. The janitor's leader fires each tick once (`janitor.periodic`); schedules
come from the API (`/jobs/schedules`, admin keys) or from `SCHEDULES_FILE` (`jobcommon.schedule_store`).

Ticks missed while nothing fired them (every janitor down, Redis down): when a schedule is fired and more
than one of its ticks is due, or its one due tick is more than `LATE_AFTER_S` late, those ticks were missed.
`catch_up="once"` (the default) runs the job once for all of them, `catch_up="skip"` runs none; either way
the next run is the schedule's first tick after now. A tick on time is never skipped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from jobcommon.submission import parse_request

LATE_AFTER_S = 60.0
"""A due tick later than this when fired counts as missed (the catch-up policy decides)."""
MIN_EVERY_S = 1.0
MAX_WALKED = 10_000
"""Most missed cron ticks counted one by one after an outage (a per-minute schedule down for a week)."""
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class ScheduleSpec(BaseModel):
    """What a schedule is, as created through the API or written in `SCHEDULES_FILE`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="1-64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit.")
    cron: str | None = Field(
        default=None,
        description="Five-field cron expression (minute hour day month weekday), e.g. '30 3 * * *'.",
    )
    every_s: float | None = Field(
        default=None, ge=MIN_EVERY_S, le=366 * 86400, description="Or: a fixed interval in seconds."
    )
    timezone: str = Field(
        default="UTC", max_length=64, description="IANA time zone the cron expression is read in."
    )
    catch_up: Literal["once", "skip"] = Field(
        default="once", description="Ticks missed while nothing fired them: run once for all, or skip them."
    )
    paused: bool = False
    request: dict[str, Any] = Field(
        description="The job each tick submits: `job_type` and its fields, as `POST /jobs/submit` takes it."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("a name is 1-64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America"), too long
            raise ValueError(f"unknown time zone {value!r} (an IANA name, e.g. 'Europe/Berlin')") from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = " ".join(value.split())
        if len(text.split(" ")) != 5:
            raise ValueError("a cron expression has five fields: minute hour day month weekday")
        try:
            croniter(text, datetime.now(UTC)).get_next(datetime)
        except CroniterBadDateError:
            raise ValueError("the cron expression never matches a date (e.g. 31 February)") from None
        except (ValueError, KeyError, IndexError) as exc:  # croniter's errors are ValueErrors
            raise ValueError(f"not a valid cron expression: {exc}") from None
        return text

    @field_validator("request")
    @classmethod
    def _request(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if info.context and info.context.get("stored"):
            return value  # checked when made; checked again when submitted (its job type may be gone since)
        parsed = parse_request(
            value
        )  # as a submission: follow-ups too; a ValidationError names the bad field
        if parsed.run_at is not None or parsed.delay_s is not None:
            raise ValueError("a scheduled job runs at its tick: no run_at or delay_s")
        return parsed.compact()

    @model_validator(mode="after")
    def _one_timing(self) -> Self:
        if (self.cron is None) == (self.every_s is None):
            raise ValueError("give exactly one of cron and every_s")
        if self.every_s is not None and self.timezone != "UTC":
            raise ValueError("timezone applies to cron expressions only")
        return self

    @property
    def step(self) -> timedelta:
        """An interval schedule's period, in whole microseconds (so tick arithmetic is exact)."""
        assert self.every_s is not None
        return timedelta(microseconds=max(1, round(self.every_s * 1_000_000)))

    def next_tick(self, after: datetime, anchor: datetime) -> datetime:
        """The first tick strictly after `after`; an interval counts from `anchor` (the schedule's start).

        A cron wall-clock time that happens twice when clocks go back (e.g. 02:30 in Europe/Berlin on the last
        Sunday of October) fires once, at its first occurrence: every tick of the repeated hour's second pass
        is skipped (`*/20 2 * * *` fires at 02:00, 02:20 and 02:40 once each)."""
        if self.every_s is not None:
            periods = max((after - anchor) // self.step + 1, 1)
            return anchor + periods * self.step
        assert self.cron is not None
        zone = ZoneInfo(self.timezone)
        local = after.astimezone(zone)
        ticks = croniter(self.cron, local)
        found: datetime = ticks.get_next(datetime)
        while _second_pass(found):
            found = ticks.get_next(datetime)
        return found.astimezone(UTC)

    def ticks_between(self, due: datetime, now: datetime, anchor: datetime) -> tuple[int, datetime]:
        """How many ticks passed from `due` (counted) to `now`, and the first tick after `now`. Intervals are
        counted, not walked; a cron schedule is walked at most `MAX_WALKED` ticks (reported as that many)."""
        following = self.next_tick(now, anchor)
        if self.every_s is not None:
            return max(1, (now - anchor) // self.step - (due - anchor) // self.step + 1), following
        passed, tick = 1, self.next_tick(due, anchor)
        while tick <= now and passed < MAX_WALKED:
            passed += 1
            tick = self.next_tick(tick, anchor)
        return passed, following


def _second_pass(moment: datetime) -> bool:
    """Whether `moment` (local, from croniter, which marks it `fold=1`) is a wall time's second occurrence."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


class Schedule(ScheduleSpec):
    """A stored schedule: its spec, who made it and where it is defined."""

    owner: str = Field(description="The owner of the jobs it submits (the admin who created it).")
    source: Literal["api", "file"] = Field(
        description="'file': defined in SCHEDULES_FILE (changed there, not through the API)."
    )
    created_at: AwareDatetime


class ScheduleView(Schedule):
    """A schedule as listed: when it runs next and what its last run was."""

    next_run_at: AwareDatetime | None = Field(description="The next tick (null while paused).")
    last_run_at: AwareDatetime | None = None
    last_task_id: str | None = None
    runs: int = Field(default=0, description="Jobs it has submitted.")
    missed: int = Field(default=0, description="Ticks missed while nothing fired them (see catch_up).")


def fired_ticks(
    spec: ScheduleSpec, due: datetime, now: datetime, anchor: datetime
) -> tuple[bool, int, datetime]:
    """At `now`, with `due` the schedule's stored next tick (≤ now): whether to submit a job, how many ticks
    were missed (passed without a run of their own), and the next tick to store."""
    following = spec.next_tick(due, anchor)
    if following > now and (now - due).total_seconds() <= LATE_AFTER_S:
        return True, 0, following  # on time
    passed, following = spec.ticks_between(due, now, anchor)
    if spec.catch_up == "once":
        return True, passed - 1, following  # one run stands for all of them
    return False, passed, following
