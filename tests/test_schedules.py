"""Periodic jobs: schedule rules, their storage, the janitor duty that fires each tick once (also with two
replicas racing), missed ticks, SCHEDULES_FILE, and the admin API with the janitor of a running stack."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from janitor.duties import Housekeeping
from janitor.periodic import PeriodicJobs, fire_due, read_schedules_file, sync_schedules_file
from janitor.settings import JanitorSettings
from jobcommon import ConfigurationError, JobStatus, keys
from jobcommon.errors import ScheduleConflict, ScheduleNotFound
from jobcommon.schedule_store import FILE_OWNER, ScheduleStore
from jobcommon.schedules import ScheduleSpec, fired_ticks
from jobcommon.store import JobStore
from tests.conftest import ApiKeys, Stack, bearer
from tests.test_cli import mediajobs

ECHO = {"job_type": "echo", "payload": {"tick": True}}
T0 = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


def spec(**fields: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate({"name": "s", "request": ECHO} | fields)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({}, "exactly one of cron and every_s"),
        ({"cron": "* * * * *", "every_s": 5}, "exactly one of cron and every_s"),
        ({"cron": "61 * * * *"}, "not a valid cron expression"),
        ({"cron": "* * * *"}, "five fields"),
        ({"cron": "0 0 31 2 *"}, "never matches"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"cron": "0 3 * * *", "timezone": "America"}, "unknown time zone"),  # a directory
        ({"cron": "0 3 * * *", "timezone": "../../etc/passwd"}, "unknown time zone"),
        ({"cron": "0 3 * * *", "timezone": "x" * 300}, "at most 64 characters"),
        ({"every_s": 0.5}, "greater than or equal to 1"),
        ({"every_s": 60, "timezone": "Europe/Berlin"}, "cron expressions only"),
        ({"every_s": 60, "name": "Bad Name"}, "a name is"),
        ({"every_s": 60, "request": {"job_type": "nope"}}, "job_type"),
        ({"every_s": 60, "request": {**ECHO, "delay_s": 5}}, "no run_at or delay_s"),
        # follow-ups as a submission checks them: their every tick would fail otherwise
        ({"every_s": 60, "request": {**ECHO, "then": [{"job_type": "nope"}]}}, "then.0"),
        ({"every_s": 60, "request": {**ECHO, "then": [{"job_type": "thumbnail", "sizes": [0]}]}}, "then.0"),
        ({"every_s": 60, "surprise": 1}, "Extra inputs"),
    ],
)
def test_a_bad_schedule_is_refused_with_its_reason(fields: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        spec(**fields)


def test_ticks_follow_cron_in_its_time_zone_or_the_interval_from_its_start() -> None:
    berlin = spec(cron="30 3 * * *", timezone="Europe/Berlin")
    assert berlin.next_tick(T0, T0) == datetime(2026, 12, 6, 2, 30, tzinfo=UTC)  # 03:30 CET
    summer = datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert berlin.next_tick(summer, T0) == datetime(2026, 7, 2, 1, 30, tzinfo=UTC)  # 03:30 CEST
    every = spec(every_s=90)
    assert every.next_tick(T0, T0) == T0 + timedelta(seconds=90)
    assert every.next_tick(T0 + timedelta(seconds=100), T0) == T0 + timedelta(seconds=180)
    assert spec(every_s=90, request={"job_type": "echo"}).request == {"job_type": "echo"}  # stored compact


def test_interval_ticks_always_move_forward_even_for_periods_floats_cannot_hold() -> None:
    for every in (1.1, 0.1 * 3 + 1, 7.3, 86400.7):
        schedule = spec(every_s=every)
        tick = T0
        for _ in range(3000):
            following = schedule.next_tick(tick, T0)
            assert following > tick, (every, tick)
            tick = following
    late = spec(every_s=1.1)
    passed, following = late.ticks_between(T0 + timedelta(seconds=1.1), T0 + timedelta(days=30), T0)
    assert passed == 2356363  # counted, not walked (a month at 1.1 s)
    assert following > T0 + timedelta(days=30)


def test_a_wall_clock_time_repeated_when_clocks_go_back_fires_once() -> None:
    berlin = spec(cron="30 2 * * *", timezone="Europe/Berlin")  # clocks go back at 03:00 on 2026-10-25
    first = berlin.next_tick(datetime(2026, 10, 24, 12, tzinfo=UTC), T0)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert berlin.next_tick(first, T0) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # not 02:30 CET that day
    york = spec(cron="30 1 * * *", timezone="America/New_York")  # clocks go back at 02:00 on 2026-11-01
    first = york.next_tick(datetime(2026, 10, 31, 12, tzinfo=UTC), T0)
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert york.next_tick(first, T0) == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)  # 01:30 EST, a day later
    # every 20 minutes of the repeated hour: each wall time once (not again in the hour's second pass)
    steps = spec(cron="*/20 2 * * *", timezone="Europe/Berlin")
    tick, fired = datetime(2026, 10, 24, 23, 50, tzinfo=UTC), []
    for _ in range(4):
        tick = steps.next_tick(tick, T0)
        fired.append(tick)
    on_the_day = [datetime(2026, 10, 25, 0, minute, tzinfo=UTC) for minute in (0, 20, 40)]  # 02:00-02:40 CEST
    assert fired == [*on_the_day, datetime(2026, 10, 26, 1, 0, tzinfo=UTC)]
    # computed from inside the second pass (a resume, a catch-up): the next day, not 02:30 CET again
    inside = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET
    assert berlin.next_tick(inside, T0) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


def test_missed_ticks_run_once_or_are_skipped_and_a_tick_on_time_always_runs() -> None:
    every = spec(every_s=10)
    assert fired_ticks(every, T0, T0 + timedelta(seconds=2), T0) == (True, 0, T0 + timedelta(seconds=10))
    late = T0 + timedelta(seconds=35)  # ticks at 0, 10, 20, 30 passed
    assert fired_ticks(every, T0, late, T0) == (True, 3, T0 + timedelta(seconds=40))
    skip = spec(every_s=10, catch_up="skip")
    assert fired_ticks(skip, T0, late, T0) == (False, 4, T0 + timedelta(seconds=40))
    daily = spec(cron="0 0 * * *")
    midnight = datetime(2026, 12, 6, tzinfo=UTC)
    assert fired_ticks(daily, midnight, midnight + timedelta(minutes=5), T0)[:2] == (True, 0)  # late, runs
    skip_daily = spec(cron="0 0 * * *", catch_up="skip")
    assert fired_ticks(skip_daily, midnight, midnight + timedelta(minutes=5), T0)[:2] == (False, 1)


@pytest.fixture
def hk(unrun_redis: Redis, media_root: Path) -> Housekeeping:
    settings = JanitorSettings(redis_url="redis://unused", media_root=media_root)
    return Housekeeping(JobStore(unrun_redis, settings), settings)


async def _jobs_made(redis: Redis) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    async for key in redis.scan_iter(match=keys.job("*")):
        found.append(cast("dict[str, str]", await redis.hgetall(key)))
    return found


async def test_the_store_creates_pauses_resumes_deletes_and_refuses_a_taken_name(unrun_redis: Redis) -> None:
    store = ScheduleStore(unrun_redis)
    made = await store.create(spec(name="canary", every_s=60), owner="alice")
    assert (made.owner, made.source, made.runs) == ("alice", "api", 0)
    assert made.next_run_at is not None
    with pytest.raises(ScheduleConflict, match="exists already"):
        await store.create(spec(name="canary", every_s=5), owner="bob")
    paused = await store.set_paused("canary", True)
    assert paused.paused
    assert paused.next_run_at is None
    assert await store.due(datetime.now(UTC) + timedelta(days=1)) == []
    resumed = await store.set_paused("canary", False)
    assert resumed.next_run_at is not None
    assert [v.name for v in await store.views()] == ["canary"]
    await store.delete("canary")
    with pytest.raises(ScheduleNotFound):
        await store.view("canary")
    assert await unrun_redis.zcard(keys.SCHEDULE_NEXT) == 0


async def test_each_tick_fires_once_even_with_two_replicas_racing(
    hk: Housekeeping, unrun_redis: Redis, unrun_db_url: str
) -> None:
    store = ScheduleStore(unrun_redis)
    await store.create(spec(name="race", every_s=2), owner="alice")
    second = Redis.from_url(unrun_db_url, decode_responses=True)
    other = Housekeeping(JobStore(second, hk.settings), hk.settings)
    made = (await store.view("race")).created_at
    leader, deposed = PeriodicJobs(None), PeriodicJobs(None)
    deadline = time.monotonic() + 30
    view = await store.view("race")
    while view.next_run_at is not None and view.next_run_at < made + timedelta(seconds=5):  # ticks 2 and 4 s
        assert time.monotonic() < deadline, view
        await asyncio.gather(leader(hk), deposed(other))  # a deposed leader that has not noticed yet
        await asyncio.sleep(0.05)
        view = await store.view("race")
    jobs = await _jobs_made(unrun_redis)
    assert len(jobs) == view.runs >= 1  # one job per tick, not one per replica
    assert view.runs + view.missed == 2  # ticks 2 and 4 s after its creation (a stalled loop: once for both)
    assert {j["owner"] for j in jobs} == {"alice"}
    assert view.last_task_id in {j["task_id"] for j in jobs}
    await second.aclose()


async def test_ticks_missed_while_no_janitor_ran_follow_catch_up(
    hk: Housekeeping, unrun_redis: Redis
) -> None:
    store = ScheduleStore(unrun_redis)
    await store.create(spec(name="once", every_s=10), owner="alice")
    await store.create(spec(name="skip", every_s=10, catch_up="skip"), owner="alice")
    # as if made 105 s ago, and no janitor ran for the last 45 s: ticks 45, 35, 25, 15 and 5 s ago passed
    made = datetime.now(UTC) - timedelta(seconds=105)
    for name in ("once", "skip"):
        stored = (await store.schedule(name)).model_copy(update={"created_at": made})
        await unrun_redis.hset(keys.SCHEDULES, name, stored.model_dump_json())
        await unrun_redis.zadd(keys.SCHEDULE_NEXT, {name: (made + timedelta(seconds=60)).timestamp()})
    report = await fire_due(ScheduleStore(unrun_redis), hk)
    assert report["fired"] == ["once"]
    once, skip = await store.view("once"), await store.view("skip")
    assert (once.runs, once.missed) == (1, 4)
    assert (skip.runs, skip.missed) == (0, 5)
    for view in (once, skip):
        assert view.next_run_at is not None
        assert view.next_run_at > datetime.now(UTC)
    assert len(await _jobs_made(unrun_redis)) == 1


def test_schedules_file_errors_name_the_schedule_and_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text('[[schedule]]\nname = "n"\ncron = "0 25 * * *"\nrequest = { job_type = "echo" }\n')
    with pytest.raises(ConfigurationError, match=r"schedule #1 \(n\): cron: .*not a valid cron"):
        read_schedules_file(path)
    path.write_text("[[schedule]\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        read_schedules_file(path)
    path.write_text('[[jobs]]\nname = "n"\n')
    with pytest.raises(ConfigurationError, match="use \\[\\[schedule\\]\\]"):
        read_schedules_file(path)
    with pytest.raises(ConfigurationError, match="cannot be read"):
        read_schedules_file(tmp_path / "missing.toml")


async def test_the_schedules_file_is_synced_keeping_unchanged_ticks(
    unrun_redis: Redis, tmp_path: Path
) -> None:
    store = ScheduleStore(unrun_redis)
    path = tmp_path / "schedules.toml"
    path.write_text(
        '[[schedule]]\nname = "a"\nevery_s = 3600\nrequest = { job_type = "echo" }\n\n'
        '[[schedule]]\nname = "b"\ncron = "0 4 * * *"\ntimezone = "Europe/Berlin"\n'
        'request = { job_type = "echo", sleep_s = 1 }\n'
    )
    assert await sync_schedules_file(store, path) == {"added": 2, "changed": 0, "removed": 0}
    first = await store.view("a")
    assert (first.source, first.owner) == ("file", FILE_OWNER)
    assert await sync_schedules_file(store, path) == {"added": 0, "changed": 0, "removed": 0}
    path.write_text(
        '[[schedule]]\nname = "a"\nevery_s = 3600\nrequest = { job_type = "echo", sleep_s = 2 }\n'
    )
    assert await sync_schedules_file(store, path) == {"added": 0, "changed": 1, "removed": 1}
    again = await store.view("a")
    assert again.request == {"job_type": "echo", "sleep_s": 2.0}
    assert again.next_run_at == first.next_run_at  # same timing: the same next tick
    with pytest.raises(ScheduleConflict, match="SCHEDULES_FILE"):
        await store.delete("a")
    assert await sync_schedules_file(store, None) == {"added": 0, "changed": 0, "removed": 1}
    assert await store.views() == []


async def test_a_file_schedule_paused_through_the_api_stays_paused_across_syncs(
    unrun_redis: Redis, tmp_path: Path
) -> None:
    store = ScheduleStore(unrun_redis)
    path = tmp_path / "schedules.toml"
    path.write_text('[[schedule]]\nname = "f"\nevery_s = 60\nrequest = { job_type = "echo" }\n')
    await sync_schedules_file(store, path)
    await store.set_paused("f", True)
    assert await sync_schedules_file(store, path) == {"added": 0, "changed": 0, "removed": 0}
    assert (await store.view("f")).paused


async def test_a_schedule_whose_job_type_is_gone_fails_alone_and_is_still_listed(
    hk: Housekeeping, unrun_redis: Redis
) -> None:
    store = ScheduleStore(unrun_redis)
    await store.create(spec(name="fine", every_s=1), owner="alice")
    gone = (await store.schedule("fine")).model_copy(update={"name": "gone", "request": {"job_type": "gone"}})
    await unrun_redis.hset(keys.SCHEDULES, "gone", gone.model_dump_json())
    await unrun_redis.zadd(keys.SCHEDULE_NEXT, {"gone": time.time() - 0.5})  # due first, every run
    assert [v.name for v in await store.views()] == ["fine", "gone"]
    await asyncio.sleep(1.1)
    report = await fire_due(store, hk)
    assert report["fired"] == ["fine"]
    assert "job_type" in report["failed"]["gone"]
    assert (await store.view("gone")).next_run_at is not None  # moved on to its next tick
    await store.delete("gone")


async def test_the_janitor_duty_syncs_its_file_once_then_fires_its_ticks(
    hk: Housekeeping, unrun_redis: Redis, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text('[[schedule]]\nname = "filed"\nevery_s = 1\nrequest = { job_type = "echo" }\n')
    duty = PeriodicJobs(path)
    path.unlink()  # read when the janitor is built: a bad file stops it there, not later
    first = await duty(hk)
    assert first["file"] == {"added": 1, "changed": 0, "removed": 0}
    assert first["fired"] == []
    await asyncio.sleep(1.2)
    second = await duty(hk)
    assert "file" not in second
    assert second["fired"] == ["filed"]
    jobs = await _jobs_made(unrun_redis)
    assert [j["owner"] for j in jobs] == [FILE_OWNER]
    with pytest.raises(ConfigurationError, match="cannot be read"):
        PeriodicJobs(path)


async def test_admins_manage_schedules_through_the_api_and_the_janitor_fires_them(
    stack: Stack, api_keys: ApiKeys
) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers=bearer(api_keys.admin)) as api:
        body = {
            "name": "api-canary",
            "every_s": 1,
            "request": {"job_type": "echo", "payload": {"from": "schedule"}},
        }
        made = await api.post("/jobs/schedules", json=body)
        assert made.status_code == 201, made.text
        assert made.json()["next_run_at"] is not None
        assert (await api.post("/jobs/schedules", json=body)).status_code == 409
        bad = await api.post(
            "/jobs/schedules", json={**body, "name": "x", "every_s": None, "cron": "99 * * * *"}
        )
        assert bad.status_code == 422
        assert "cron" in bad.text
        assert (await api.get("/jobs/schedules/nope")).status_code == 404
        # /jobs/{task_id}/... is tried first, yet a schedule named like one of its routes stays a schedule
        shadowed = await api.get("/jobs/schedules/status")
        assert shadowed.json()["detail"] == "no schedule named 'status'", shadowed.text
        denied = await api.get("/jobs/schedules", headers=bearer(api_keys.alice_submit))
        assert denied.status_code == 403
        view: dict[str, Any] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            view = (await api.get("/jobs/schedules/api-canary")).json()
            if view["runs"] >= 2:
                break
            await asyncio.sleep(0.2)
        assert view["runs"] >= 2, view
        paused = (await api.post("/jobs/schedules/api-canary/pause")).json()
        assert paused["paused"] is True
        assert paused["next_run_at"] is None
        job = (await api.get(f"/jobs/{view['last_task_id']}/status")).json()
        deadline = time.monotonic() + 20
        while job["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            job = (await api.get(f"/jobs/{view['last_task_id']}/status")).json()
        assert job["status"] == JobStatus.SUCCEEDED
        assert job["result"]["payload"] == {"from": "schedule"}
        listed = (await api.get("/jobs/schedules")).json()
        assert "api-canary" in [s["name"] for s in listed]
        assert (await api.post("/jobs/schedules/api-canary/resume")).json()["next_run_at"] is not None
        assert (await api.delete("/jobs/schedules/api-canary")).status_code == 204
        assert (await api.get("/jobs/schedules/api-canary")).status_code == 404


def test_the_cli_adds_lists_pauses_and_removes_schedules(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    admin = api_keys.admin
    added = mediajobs(
        stack, admin, "schedules", "add", "cli-nightly", "echo",
        "--cron", "0 3 * * *", "--tz", "Europe/Berlin", "-s", "payload.n=1", cwd=tmp_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "added cli-nightly: next run 20" in added.stdout
    listed = mediajobs(stack, admin, "schedules", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "cli-nightly" in listed.stdout
    assert "(Europe/Berlin)" in listed.stdout  # the table wraps long cells
    assert '{"payload":{"n":1}}' in listed.stdout
    bad = mediajobs(stack, admin, "schedules", "add", "cli-bad", "echo", "--cron", "0 25 * * *", cwd=tmp_path)
    assert bad.returncode == 2  # a usage error, found by the gateway (422)
    assert "cron" in bad.stderr
    assert mediajobs(stack, admin, "schedules", "pause", "cli-nightly", cwd=tmp_path).returncode == 0
    paused = mediajobs(stack, admin, "schedules", "list", cwd=tmp_path).stdout
    assert "paused" in next(line for line in paused.splitlines() if "cli-nightly" in line)
    assert mediajobs(stack, admin, "schedules", "ls", cwd=tmp_path).stdout == paused  # as the top-level ls
    refused = mediajobs(stack, api_keys.alice_submit, "schedules", "list", cwd=tmp_path)
    assert refused.returncode == 5
    assert mediajobs(stack, admin, "schedules", "rm", "cli-nightly", cwd=tmp_path).returncode == 0
    gone = mediajobs(stack, admin, "schedules", "rm", "cli-nightly", cwd=tmp_path)
    assert gone.returncode == 4
    assert "no schedule named 'cli-nightly'" in gone.stderr


def test_the_example_schedules_file_is_valid() -> None:
    specs = read_schedules_file(Path(__file__).parents[1] / "deploy" / "schedules.example.toml")
    assert [s.name for s in specs] == ["library-refresh", "canary"]
