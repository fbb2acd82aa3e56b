"""Periodic jobs under stress (from review): a SCHEDULES_FILE schedule whose job no longer validates does not
stop the janitor (logged, listed, in its health, its ticks skipped, the others run); scheduled jobs are
admitted under their owner's MAX_ACTIVE_JOBS and submission rate like API submissions (a refused tick is
skipped and recorded, never retried in a loop); cron ticks across clock changes, at explicit instants."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from janitor.duties import Housekeeping
from janitor.leader import LeaderLock
from janitor.periodic import PeriodicJobs, fire_due, load_schedules_file
from janitor.scheduler import DutyScheduler, default_duties
from janitor.settings import JanitorSettings
from jobcommon import ConfigurationError, keys
from jobcommon.schedule_store import FILE_OWNER, ScheduleStore
from jobcommon.schedules import ScheduleSpec
from jobcommon.store import JobStore
from jobcommon.submission import submit_job

ECHO = {"job_type": "echo", "payload": {"tick": True}}
GONE_FIELD = 'request = { job_type = "echo", volume = 11 }'
"""An echo job with a field echo does not have (any more): the request does not validate."""


def _file(tmp_path: Path, *tables: str) -> Path:
    path = tmp_path / "schedules.toml"
    path.write_text("\n".join(f"[[schedule]]\n{table}\n" for table in tables))
    return path


def _housekeeping(redis: Redis, media_root: Path, **settings: Any) -> Housekeeping:
    config = JanitorSettings(redis_url="redis://unused", media_root=media_root, **settings)
    return Housekeeping(JobStore(redis, config), config)


@pytest.fixture
def hk(unrun_redis: Redis, media_root: Path) -> Housekeeping:
    return _housekeeping(unrun_redis, media_root)


async def _jobs_made(redis: Redis) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    async for key in redis.scan_iter(match=keys.job("*")):
        found.append(cast("dict[str, str]", await redis.hgetall(key)))
    return found


async def _due_now(store: ScheduleStore, redis: Redis, name: str) -> float:
    """Make an `every_s = 60` schedule's tick fall a second ago, as if it was made 61 s ago; that tick."""
    made = datetime.now(UTC) - timedelta(seconds=61)
    stored = (await store.schedule(name)).model_copy(update={"created_at": made})
    await redis.hset(keys.SCHEDULES, name, stored.model_dump_json())
    tick = (made + timedelta(seconds=60)).timestamp()
    await redis.zadd(keys.SCHEDULE_NEXT, {name: tick})
    return tick


# -- a schedule whose job does not validate --------------------------------------------------------------


async def test_a_file_schedule_whose_job_does_not_validate_is_skipped_and_the_janitor_starts(
    hk: Housekeeping, unrun_redis: Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _file(
        tmp_path,
        'name = "fine"\nevery_s = 60\nrequest = { job_type = "echo" }',
        f'name = "stale"\nevery_s = 60\n{GONE_FIELD}',
    )
    caplog.set_level(logging.INFO, logger="mediajobs.janitor")
    settings = JanitorSettings(
        redis_url="redis://unused", media_root=hk.settings.media_root, schedules_file=path
    )
    duties = {duty.name: duty for duty in default_duties(settings)}  # the janitor is built: it starts
    assert "schedule #2 (stale): its job does not validate: request.echo.volume: Extra inputs" in caplog.text
    duty = cast("PeriodicJobs", duties["schedules"].run)
    assert duty.file.problems == {"stale": "request.echo.volume: Extra inputs are not permitted"}

    scheduler = DutyScheduler(hk, LeaderLock(unrun_redis, "test", 15), [duties["schedules"]])
    first = await scheduler.run_once(duties["schedules"])
    assert first["error"] is None
    assert first["result"]["file"] == {"added": 2, "changed": 0, "removed": 0}
    problems = first["result"]["problems"]  # in the janitor's health at once, before any tick
    assert list(problems) == ["stale"]
    assert "does not validate: request.echo.volume: Extra inputs" in problems["stale"]
    assert REGISTRY.get_sample_value("mediajobs_schedules_failing") == 1
    store = ScheduleStore(unrun_redis)
    listed = {view.name: view for view in await store.views()}
    assert listed["stale"].last_problem == problems["stale"]
    assert listed["stale"].request == {"job_type": "echo", "volume": 11}  # as the file says
    assert listed["fine"].last_problem is None

    fired_before = REGISTRY.get_sample_value("mediajobs_schedule_ticks_total", {"outcome": "invalid"}) or 0
    for name in ("fine", "stale"):
        await _due_now(store, unrun_redis, name)
    caplog.clear()
    second = await scheduler.run_once(duties["schedules"])
    assert second["error"] is None
    assert second["result"]["fired"] == ["fine"]  # the other schedule runs
    assert "volume" in second["result"]["failed"]["stale"]
    assert "schedule stale: tick" in caplog.text
    assert "skipped, its job does not validate: echo.volume: Extra inputs" in caplog.text
    jobs = await _jobs_made(unrun_redis)
    assert [j["owner"] for j in jobs] == [FILE_OWNER]  # one job, the valid schedule's
    stale = await store.view("stale")
    assert stale.runs == 0
    assert stale.next_run_at is not None
    assert stale.next_run_at > datetime.now(UTC)  # moved on to its next tick: no retry before it
    assert "volume" in (stale.last_problem or "")
    assert (
        REGISTRY.get_sample_value("mediajobs_schedule_ticks_total", {"outcome": "invalid"})
        == fired_before + 1
    )

    # fixed in the file: the next janitor syncs the change, its problem is gone and its ticks make jobs
    path.write_text(
        '[[schedule]]\nname = "fine"\nevery_s = 60\nrequest = { job_type = "echo" }\n\n'
        '[[schedule]]\nname = "stale"\nevery_s = 60\nrequest = { job_type = "echo" }\n'
    )
    fixed = PeriodicJobs(path)
    report = await fixed(hk)
    assert report["file"] == {"added": 0, "changed": 1, "removed": 0}
    assert report["problems"] == {}
    await _due_now(store, unrun_redis, "stale")
    assert (await fixed(hk))["fired"] == ["stale"]
    assert (await store.view("stale")).runs == 1


def test_a_schedules_file_wrong_in_itself_still_stops_the_janitor(tmp_path: Path) -> None:
    """What the operator wrote wrong (not what the running system accepts) is refused at start, naming it."""
    for table, why in [
        ('name = "x"\ncron = "0 25 * * *"\nrequest = { job_type = "echo" }', r"#1 \(x\): cron"),
        ('name = "x"\nevery_s = 60\ncolour = "red"\nrequest = { job_type = "echo" }', r"#1 \(x\): colour"),
        ('name = "x"\nevery_s = 60\nrequest = { job_type = "echo", delay_s = 5 }', "no run_at or delay_s"),
        ('name = "Bad Name"\nevery_s = 60\nrequest = { job_type = "echo" }', "a name is"),
    ]:
        with pytest.raises(ConfigurationError, match=why):
            load_schedules_file(_file(tmp_path, table))
    twice = 'name = "x"\nevery_s = 60\n' + GONE_FIELD
    with pytest.raises(ConfigurationError, match=r"used twice: \['x'\]"):
        load_schedules_file(_file(tmp_path, twice, twice))
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe[[schedule]]")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_schedules_file(tmp_path / "binary.toml")


# -- admission -----------------------------------------------------------------------------------------


async def test_a_tick_over_its_owners_max_active_jobs_is_skipped_and_recorded(
    unrun_redis: Redis, media_root: Path
) -> None:
    hk = _housekeeping(unrun_redis, media_root, max_active_jobs=2)
    store = ScheduleStore(unrun_redis)
    await store.create(
        ScheduleSpec.model_validate({"name": "nightly", "every_s": 60, "request": ECHO}), owner="alice"
    )
    for _ in range(2):  # alice's two live jobs, submitted through the API (nothing runs them here)
        await submit_job(hk.store, {"job_type": "echo"}, owner="alice")
    refused_before = REGISTRY.get_sample_value("mediajobs_schedule_ticks_total", {"outcome": "refused"}) or 0

    tick = await _due_now(store, unrun_redis, "nightly")
    report = await fire_due(store, hk)
    assert report["fired"] == []
    assert (
        "this owner already has 2 unfinished jobs (scheduled, queued, retrying or running"
        in report["refused"]["nightly"]
    )
    view = await store.view("nightly")
    assert (view.runs, view.refused) == (0, 1)
    assert (view.last_problem or "").startswith("refused: ")
    assert view.next_run_at is not None
    assert view.next_run_at.timestamp() > tick + 59  # skipped: on to its next tick, not tried again
    assert len(await _jobs_made(unrun_redis)) == 2
    assert (await fire_due(store, hk))["refused"] == {}  # nothing due: no hot loop on the refused tick
    assert (
        REGISTRY.get_sample_value("mediajobs_schedule_ticks_total", {"outcome": "refused"})
        == refused_before + 1
    )

    # another owner's schedule is not held back by alice's quota
    await store.create(
        ScheduleSpec.model_validate({"name": "bobs", "every_s": 60, "request": ECHO}), owner="bob"
    )
    await _due_now(store, unrun_redis, "bobs")
    assert (await fire_due(store, hk))["fired"] == ["bobs"]

    # one of alice's jobs ends: her next tick is admitted, and its problem is cleared
    await unrun_redis.delete(keys.owner_active("alice"))
    await _due_now(store, unrun_redis, "nightly")
    assert (await fire_due(store, hk))["fired"] == ["nightly"]
    view = await store.view("nightly")
    assert (view.runs, view.refused, view.last_problem) == (1, 1, None)


async def test_an_owners_schedules_share_one_submission_rate(unrun_redis: Redis, media_root: Path) -> None:
    hk = _housekeeping(unrun_redis, media_root, submit_rate_per_s=0.001, submit_burst=2)
    store = ScheduleStore(unrun_redis)
    for name in ("a", "b", "c"):
        await store.create(
            ScheduleSpec.model_validate({"name": name, "every_s": 60, "request": ECHO}), owner="alice"
        )
        await _due_now(store, unrun_redis, name)
    report = await fire_due(store, hk)
    assert report["fired"] == ["a", "b"]  # a burst of two, then the rate
    assert "too many submissions" in report["refused"]["c"]
    assert (await store.view("c")).refused == 1


async def test_a_tick_already_submitted_is_answered_even_at_the_owners_quota(
    unrun_redis: Redis, media_root: Path
) -> None:
    """A leader that died between submitting a tick's job and moving the schedule on: its successor's
    submission is the replay of that job, which the quota (the job itself fills it) must not refuse."""
    hk = _housekeeping(unrun_redis, media_root, max_active_jobs=1)
    store = ScheduleStore(unrun_redis)
    await store.create(
        ScheduleSpec.model_validate({"name": "n", "every_s": 60, "request": ECHO}), owner="alice"
    )
    tick = await _due_now(store, unrun_redis, "n")
    first = await submit_job(hk.store, ECHO, idempotency_key=f"schedule n {tick!r}", owner="alice")
    report = await fire_due(store, hk)
    assert report["fired"] == ["n"]
    assert report["refused"] == {}
    assert (await store.view("n")).last_task_id == first.job.task_id


# -- clock changes ---------------------------------------------------------------------------------------


def _cron(expression: str, zone: str) -> ScheduleSpec:
    return ScheduleSpec.model_validate({"name": "c", "cron": expression, "timezone": zone, "request": ECHO})


def _ticks(schedule: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    found, tick = [], start
    while (tick := schedule.next_tick(tick, start)) < end:
        found.append(tick)
    return found


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


CHANGES = [  # (zone, UTC instants a day either side of the clocks going forward, then back, in 2026)
    ("Europe/Berlin", _utc(2026, 3, 28), _utc(2026, 3, 30), _utc(2026, 10, 24), _utc(2026, 10, 26)),
    ("America/New_York", _utc(2026, 3, 7), _utc(2026, 3, 9, 12), _utc(2026, 10, 31), _utc(2026, 11, 2, 12)),
    ("Australia/Sydney", _utc(2026, 10, 3), _utc(2026, 10, 5), _utc(2026, 4, 4), _utc(2026, 4, 6)),
]


@pytest.mark.parametrize(("zone", "forward_from", "forward_to", "back_from", "back_to"), CHANGES)
def test_an_hourly_schedule_fires_once_in_every_real_hour_across_clock_changes(
    zone: str, forward_from: datetime, forward_to: datetime, back_from: datetime, back_to: datetime
) -> None:
    for expression, minute in (("0 * * * *", 0), ("30 * * * *", 30), ("45 */1 * * *", 45)):
        hourly = _cron(expression, zone)
        for start, end in ((forward_from, forward_to), (back_from, back_to)):
            every_hour = (start + timedelta(hours=h, minutes=minute) for h in range(60))
            expected = [tick for tick in every_hour if start < tick < end]
            assert _ticks(hourly, start, end) == expected, (expression, zone, start)
    quarters = _cron("*/15 * * * *", zone)
    for start, end in ((forward_from, forward_to), (back_from, back_to)):
        ticks = _ticks(quarters, start, end)
        assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(ticks)), ticks


def test_the_repeated_hour_of_an_hourly_schedule_is_another_run_at_explicit_instants() -> None:
    berlin = _cron("0 * * * *", "Europe/Berlin")  # 2026-10-25: 03:00 CEST (01:00 UTC) becomes 02:00 CET
    first = berlin.next_tick(_utc(2026, 10, 24, 23, 30), _utc(2026, 1, 1))
    assert first == _utc(2026, 10, 25, 0)  # 02:00 CEST
    again = berlin.next_tick(first, first)
    assert again == _utc(2026, 10, 25, 1)  # 02:00 CET: an hour later, not 03:00 CET two hours later
    assert again.astimezone(ZoneInfo("Europe/Berlin")).hour == 2
    assert berlin.next_tick(again, first) == _utc(2026, 10, 25, 2)  # 03:00 CET
    # computed from inside the repeated hour (a resume, a catch-up): its second pass still runs
    assert berlin.next_tick(_utc(2026, 10, 25, 0, 45), first) == _utc(2026, 10, 25, 1)
    assert berlin.next_tick(_utc(2026, 10, 25, 1, 10), first) == _utc(2026, 10, 25, 2)
    # across the gap: 01:00 CET, then 03:00 CEST an hour later (02:00 never happens), once each
    assert _ticks(berlin, _utc(2026, 3, 28, 23, 30), _utc(2026, 3, 29, 2, 30)) == [
        _utc(2026, 3, 29, 0),
        _utc(2026, 3, 29, 1),
        _utc(2026, 3, 29, 2),
    ]
    # half-hour changes too: Lord Howe goes back from 02:00 +11 to 01:30 +10:30 on 2026-04-05
    howe = _cron("0,30 * * * *", "Australia/Lord_Howe")
    assert _ticks(howe, _utc(2026, 4, 4, 14, 15), _utc(2026, 4, 4, 16, 15)) == [
        _utc(2026, 4, 4, 14, 30),  # 01:30 +11
        _utc(2026, 4, 4, 15, 0),  # 01:30 +10:30 (a real half hour of its own)
        _utc(2026, 4, 4, 15, 30),
        _utc(2026, 4, 4, 16, 0),
    ]


@pytest.mark.parametrize(("zone", "forward_from", "forward_to", "back_from", "back_to"), CHANGES)
def test_a_schedule_naming_its_hours_fires_once_per_day_across_clock_changes(
    zone: str, forward_from: datetime, forward_to: datetime, back_from: datetime, back_to: datetime
) -> None:
    local = ZoneInfo(zone)
    for expression in ("30 2 * * *", "0 2 * * *", "*/20 2 * * *", "0 1,2,3 * * *"):
        schedule = _cron(expression, zone)
        per_day = len(expression.split()[1].split(",")) * (3 if expression.startswith("*/20") else 1)
        for start, end in ((forward_from, forward_to), (back_from, back_to)):
            ticks = _ticks(schedule, start, end - timedelta(hours=12))
            assert ticks == sorted(set(ticks)), ticks  # never twice at one instant, always forward
            walls = [tick.astimezone(local).replace(tzinfo=None, fold=0) for tick in ticks]
            assert len(walls) == len(set(walls)), (expression, zone, walls)  # no wall time twice
            days = {wall.date() for wall in walls}
            for day in days:  # a day's ticks: those it has (one at the change for those in the gap)
                assert 1 <= sum(wall.date() == day for wall in walls) <= per_day


def test_ticks_in_the_gap_of_a_schedule_naming_its_hours_fire_once_at_the_change() -> None:
    berlin = _cron("30 2 * * *", "Europe/Berlin")  # 2026-03-29: 02:00 CET (01:00 UTC) becomes 03:00 CEST
    assert berlin.next_tick(_utc(2026, 3, 28, 12), _utc(2026, 1, 1)) == _utc(2026, 3, 29, 1)  # 03:00 CEST
    assert berlin.next_tick(_utc(2026, 3, 29, 1), _utc(2026, 1, 1)) == _utc(2026, 3, 30, 0, 30)  # 02:30 CEST
    steps = _cron("*/20 2 * * *", "Europe/Berlin")
    assert _ticks(steps, _utc(2026, 3, 28, 23), _utc(2026, 3, 30, 0, 30)) == [
        _utc(2026, 3, 29, 1),  # 02:00, 02:20 and 02:40 do not exist: once, at the change
        _utc(2026, 3, 30, 0),
        _utc(2026, 3, 30, 0, 20),
    ]
    # the repeated hour: once, at its first pass
    back = _cron("30 2 * * *", "Europe/Berlin")
    assert _ticks(back, _utc(2026, 10, 24, 12), _utc(2026, 10, 26, 12)) == [
        _utc(2026, 10, 25, 0, 30),  # 02:30 CEST; not 02:30 CET too
        _utc(2026, 10, 26, 1, 30),
    ]


def test_missed_hourly_ticks_across_the_repeated_hour_are_counted_by_real_hours() -> None:
    berlin = _cron("0 * * * *", "Europe/Berlin")
    passed, following = berlin.ticks_between(
        _utc(2026, 10, 25, 0), _utc(2026, 10, 25, 3, 10), _utc(2026, 1, 1)
    )
    assert (passed, following) == (4, _utc(2026, 10, 25, 4))  # 00, 01, 02, 03 UTC
