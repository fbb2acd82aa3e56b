"""Periodic jobs: a schedule names a job (`job_type` + request) and when it runs — a cron expression (in a
time zone) or a fixed interval. The janitor's leader fires each tick once (`janitor.periodic`); schedules
come from the API (`/jobs/schedules`, admin keys) or from `SCHEDULES_FILE` (`jobcommon.schedule_store`).

Ticks missed while nothing fired them (every janitor down, Redis down): when a schedule is fired and more
than one of its ticks is due, or its one due tick is more than `LATE_AFTER_S` late, those ticks were missed.
`catch_up="once"` (the default) runs the job once for all of them, `catch_up="skip"` runs none; either way
the next run is the schedule's first tick after now. A tick on time is never skipped.

Cron ticks across clock changes (`ScheduleSpec.next_tick`): a schedule that names its hours (`30 2 * * *`,
`*/20 2 * * *`, `0 */6 * * *`) runs its wall-clock times: one that happens twice when clocks go back fires
once (at its first occurrence), and ticks that fall into the hour skipped when clocks go forward fire once, at
the change (a nightly job is not lost). A schedule that runs every hour (`*` hours: `0 * * * *`,
`*/15 * * * *`) runs in every real hour: the repeated hour is another hour, so its ticks fire again (one run
per hour, not two hours without one), and ticks in the skipped hour do not exist (that real hour has its own
ticks after the change). Each tick is one instant: never two runs at once.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Self
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

if TYPE_CHECKING:
    from jobcommon.requests import AnyJobRequest

LATE_AFTER_S = 60.0
"""A due tick later than this when fired counts as missed (the catch-up policy decides)."""
MIN_EVERY_S = 1.0
MAX_WALKED = 10_000
"""Most missed cron ticks counted one by one after an outage (a per-minute schedule down for a week)."""
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
ZONE_SAMPLE = timedelta(hours=6)
"""Offsets are compared this far apart to find a time zone's changes: no zone changes its offset twice within
it, so equal offsets at both ends mean no change between them."""


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
        if value.get("run_at") is not None or value.get("delay_s") is not None:
            raise ValueError(NO_DELAY)
        if info.context and info.context.get("stored"):
            return value  # checked when made; checked again when submitted (its job type may be gone since)
        return scheduled_request(value).compact()

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

        A cron expression is read in its time zone, across clock changes as the module says: e.g. `30 2 * * *`
        in Europe/Berlin fires once on the day clocks go back (02:30 CEST, not 02:30 CET too) and at 03:00
        CEST on the day they go forward; `0 * * * *` fires at 02:00 CEST and again at 02:00 CET an hour later,
        and at 01:00 CET then 03:00 CEST (an hour later) across the gap."""
        if self.every_s is not None:
            periods = max((after - anchor) // self.step + 1, 1)
            return anchor + periods * self.step
        assert self.cron is not None
        return _next_cron_tick(self.cron, ZoneInfo(self.timezone), after.astimezone(UTC))

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


NO_DELAY = "a scheduled job runs at its tick: no run_at or delay_s"


def scheduled_request(value: dict[str, Any]) -> AnyJobRequest:
    """A schedule's request as each of its ticks submits it: validated as `POST /jobs/submit` validates a
    body (follow-ups too; a pydantic ValidationError names the bad field), without run_at or delay_s (a
    ValueError). A stored schedule's request is checked again by every tick: what validates depends on the
    running system (job types, their limits, the files a source names), not only on the schedule."""
    parsed = parse_request(value)
    if parsed.run_at is not None or parsed.delay_s is not None:
        raise ValueError(NO_DELAY)
    return parsed


def _every_hour(cron: str) -> bool:
    """Whether the expression's hour field selects every hour (then each real hour has its ticks)."""
    hours = croniter.expand(cron)[0][1]
    return hours == ["*"] or set(hours) == set(range(24))


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _offset_change(zone: ZoneInfo, start: datetime, end: datetime) -> datetime | None:
    """The first instant in (start, end] at which `zone`'s UTC offset is not what it is at `start` (to the
    second: offsets change on whole seconds), or None when it keeps it throughout."""
    before = _offset(zone, start)
    low, high = start, start
    while high < end:  # the first sample with another offset; changes are more than ZONE_SAMPLE apart
        low, high = high, min(high + ZONE_SAMPLE, end)
        if _offset(zone, high) != before:
            break
    else:
        return None
    low_s, high_s = math.floor(low.timestamp()), math.ceil(high.timestamp())
    while high_s - low_s > 1:  # the offset at low_s is `before`'s, at high_s not
        middle = (low_s + high_s) // 2
        if _offset(zone, datetime.fromtimestamp(middle, UTC)) == before:
            low_s = middle
        else:
            high_s = middle
    return max(datetime.fromtimestamp(high_s, UTC), start + timedelta(microseconds=1))


def _naive(moment: datetime, offset: timedelta) -> datetime:
    """The wall-clock time of the UTC instant `moment` at `offset`, naive (as croniter reads it)."""
    return (moment + offset).replace(tzinfo=None)


def _next_cron_tick(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first tick of `cron` in `zone` strictly after the UTC instant `after`.

    Walks the spans of one UTC offset each: within a span wall-clock times and instants correspond one to
    one, so croniter (on naive wall-clock times) finds the span's ticks. At a change to a later offset (clocks
    go forward) the wall-clock times skipped are the gap: a schedule that names its hours fires once at the
    change if it has a tick there; at a change to an earlier one (clocks go back) the next span repeats wall
    times: a schedule that names its hours skips their second occurrence."""
    hourly = _every_hour(cron)
    start, inclusive = after, False
    while True:
        offset = _offset(zone, start)
        wall = _naive(start, offset)
        ticks = croniter(cron, wall - timedelta(seconds=1) if inclusive else wall)
        while True:
            found: datetime = ticks.get_next(datetime)
            instant = (found - offset).replace(tzinfo=UTC)
            change = _offset_change(zone, start, instant)
            if change is not None:
                break  # the span ends before this wall time: it is read in the next one
            if hourly or _first_occurrence(zone, found, instant):
                return instant
        later = _offset(zone, change)
        if later > offset and not hourly:  # clocks go forward: ticks in the gap fire once, at the change
            gap = croniter(cron, _naive(change, offset) - timedelta(seconds=1)).get_next(datetime)
            if gap < _naive(change, later):
                return change
        start, inclusive = change, True


def _first_occurrence(zone: ZoneInfo, wall: datetime, instant: datetime) -> bool:
    """Whether `instant` is the first (or only) time the clock shows `wall` (naive) in `zone`."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC) == instant


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
    refused: int = Field(
        default=0,
        description="Ticks skipped because the owner was over MAX_ACTIVE_JOBS or its submission rate.",
    )
    last_problem: str | None = Field(
        default=None,
        description="Why its last tick made no job (refused, or its job does not validate), or why its "
        "job from SCHEDULES_FILE does not validate; cleared by the next tick that makes one.",
    )


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
