"""Where periodic schedules live in Redis (`keys.SCHEDULES`, `SCHEDULE_NEXT`, `SCHEDULE_RUNS`), and the one
atomic step that moves a schedule past a tick (compare-and-set on its next tick, so a tick is taken once even
if a deposed janitor leader has not noticed yet; the job a tick submits is deduplicated by an idempotency key
naming the tick, so a leader that dies between the two steps does not run it twice)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from jobcommon import keys
from jobcommon.errors import ScheduleConflict, ScheduleNotFound
from jobcommon.models import utcnow
from jobcommon.schedules import Schedule, ScheduleSpec, ScheduleView

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

log = logging.getLogger("mediajobs.schedules")

FILE_OWNER = "schedules-file"
"""Owner of the jobs that schedules from SCHEDULES_FILE submit."""

ADVANCE_LUA = """
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not current or tonumber(current) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
local raw = redis.call('HGET', KEYS[2], ARGV[1])
local runs = raw and cjson.decode(raw) or {}
if ARGV[5] ~= '' then
  runs.runs = (runs.runs or 0) + 1
  runs.last_task_id = ARGV[5]
  runs.last_run_at = ARGV[4]
  runs.last_problem = nil
end
runs.missed = (runs.missed or 0) + tonumber(ARGV[6])
if ARGV[7] == '1' then runs.refused = (runs.refused or 0) + 1 end
if ARGV[8] ~= '' then runs.last_problem = ARGV[8] end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(runs))
return 1
"""
"""KEYS: next zset, runs hash. ARGV: name, the tick taken (score), the next tick, the tick as text, the task
id it submitted ('' for none), ticks missed, '1' if its job was refused (quota or rate), why it made no job
('' for none). 1 if taken; 0 if the schedule moved on, was paused or deleted."""

NOTE_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
local runs = raw and cjson.decode(raw) or {}
if ARGV[2] == '' then runs.last_problem = nil else runs.last_problem = ARGV[2] end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(runs))
return 1
"""
"""KEYS: schedules hash, runs hash. ARGV: name, its problem ('' to clear it). 0 if no such schedule."""


CREATE_LUA = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
return 1
"""
"""KEYS: schedules hash, next zset. ARGV: name, schedule (JSON), first tick ('' while paused). 0 if taken."""


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


class ScheduleStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._advance: AsyncScript = redis.register_script(ADVANCE_LUA)
        self._create: AsyncScript = redis.register_script(CREATE_LUA)
        self._note: AsyncScript = redis.register_script(NOTE_LUA)

    async def create(self, spec: ScheduleSpec, *, owner: str) -> ScheduleView:
        """A new schedule made through the API; ScheduleConflict if the name is taken."""
        schedule = Schedule(**spec.model_dump(), owner=owner, source="api", created_at=utcnow())
        first = (
            "" if schedule.paused else _epoch(schedule.next_tick(schedule.created_at, schedule.created_at))
        )
        made = await self._create(
            keys=[keys.SCHEDULES, keys.SCHEDULE_NEXT], args=[spec.name, schedule.model_dump_json(), first]
        )
        if not made:
            raise ScheduleConflict(f"a schedule named {spec.name!r} exists already")
        return await self.view(spec.name)

    async def sync_file(
        self, specs: Sequence[ScheduleSpec], problems: Mapping[str, str] | None = None
    ) -> dict[str, int]:
        """Make the file's schedules the `source="file"` ones: add new ones, replace changed ones (keeping the
        next tick of those whose timing is unchanged) and delete those no longer in the file.

        `problems` names those whose job does not validate (now: it may later, as its ticks check): they are
        synced all the same, with the problem noted as their `last_problem` (their ticks make no job while
        it lasts); a problem noted so is cleared when the file's schedule is valid again."""
        problems = problems or {}
        wanted = {spec.name: spec for spec in specs}
        current = {schedule.name: schedule for schedule in await self._all()}
        added = changed = removed = 0
        now = utcnow()
        for name, spec in wanted.items():
            old = current.get(name)
            if old is not None and old.source == "api":
                log.warning("schedule %s from SCHEDULES_FILE replaces the one made through the API", name)
            # pausing through the API sticks across syncs; the file's `paused` applies when it is added
            paused = old.paused if old is not None and old.source == "file" else spec.paused
            if old is not None and old.source == "file" and _same(old, spec):
                await self._note_file_problem(name, problems.get(name))
                continue
            same_timing = old is not None and (old.cron, old.every_s, old.timezone) == (
                spec.cron,
                spec.every_s,
                spec.timezone,
            )
            created_at = old.created_at if old is not None and same_timing else now
            fields = spec.model_dump() | {"paused": paused}
            schedule = Schedule.model_validate(
                fields | {"owner": FILE_OWNER, "source": "file", "created_at": created_at}, context=STORED
            )  # its request was checked by the caller (`problems` says how that went)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(keys.SCHEDULES, name, schedule.model_dump_json())
                if schedule.paused:
                    pipe.zrem(keys.SCHEDULE_NEXT, name)
                elif not same_timing or old is None or old.paused:
                    pipe.zadd(keys.SCHEDULE_NEXT, {name: _epoch(schedule.next_tick(now, created_at))})
                await pipe.execute()
            await self._note_file_problem(name, problems.get(name), redefined=True)
            added, changed = (added + 1, changed) if old is None else (added, changed + 1)
        for name, old in current.items():
            if old.source == "file" and name not in wanted:
                await self._delete(name)
                removed += 1
        return {"added": added, "changed": changed, "removed": removed}

    async def _note_file_problem(self, name: str, problem: str | None, *, redefined: bool = False) -> None:
        """Note why a file schedule's job does not validate; or, now that it does, clear such a note (and any
        problem of its earlier definition when the file changed it)."""
        if problem is not None:
            await self._note(keys=[keys.SCHEDULES, keys.SCHEDULE_RUNS], args=[name, _file_problem(problem)])
            return
        raw = await self.redis.hget(keys.SCHEDULE_RUNS, name)
        noted = json.loads(raw).get("last_problem") if raw else None
        if isinstance(noted, str) and (redefined or noted.startswith(FILE_PROBLEM)):
            await self._note(keys=[keys.SCHEDULES, keys.SCHEDULE_RUNS], args=[name, ""])

    async def problems(self) -> dict[str, str]:
        """Each schedule's `last_problem`, for those that have one (by name)."""
        runs = await self.redis.hgetall(keys.SCHEDULE_RUNS)
        found: dict[str, str] = {}
        for name, raw in runs.items():
            problem = json.loads(raw).get("last_problem")
            if isinstance(problem, str):
                found[_text(name)] = problem
        return dict(sorted(found.items()))

    async def schedule(self, name: str) -> Schedule:
        raw = await self.redis.hget(keys.SCHEDULES, name)
        if raw is None:
            raise ScheduleNotFound(name)
        return _stored(raw)

    async def view(self, name: str) -> ScheduleView:
        schedule = await self.schedule(name)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(keys.SCHEDULE_NEXT, name)
            pipe.hget(keys.SCHEDULE_RUNS, name)
            score, runs = await pipe.execute()
        return _view(schedule, score, runs)

    async def views(self) -> list[ScheduleView]:
        """Every schedule, by name."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.SCHEDULES)
            pipe.zrange(keys.SCHEDULE_NEXT, 0, -1, withscores=True)
            pipe.hgetall(keys.SCHEDULE_RUNS)
            stored, scores, runs = await pipe.execute()
        nexts = {_text(name): score for name, score in scores}
        found = {_text(k): _stored(v) for k, v in stored.items()}
        return [
            _view(found[name], nexts.get(name), runs.get(name, runs.get(name.encode())))
            for name in sorted(found)
        ]

    async def set_paused(self, name: str, paused: bool) -> ScheduleView:
        """Pause (no ticks fire, none are counted missed) or resume (from the next tick after now)."""
        schedule = (await self.schedule(name)).model_copy(update={"paused": paused})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.SCHEDULES, name, schedule.model_dump_json())
            if paused:
                pipe.zrem(keys.SCHEDULE_NEXT, name)
            else:
                pipe.zadd(
                    keys.SCHEDULE_NEXT, {name: _epoch(schedule.next_tick(utcnow(), schedule.created_at))}
                )
            await pipe.execute()
        return await self.view(name)

    async def delete(self, name: str) -> None:
        """Delete an API schedule; ScheduleConflict for one defined in SCHEDULES_FILE (it would come back)."""
        schedule = await self.schedule(name)
        if schedule.source == "file":
            raise ScheduleConflict(f"schedule {name!r} is defined in SCHEDULES_FILE: remove it there")
        await self._delete(name)

    async def due(self, now: datetime) -> list[tuple[str, float]]:
        """Names of the schedules with a tick at or before `now`, with that tick (epoch seconds)."""
        found = cast(
            "list[tuple[str | bytes, float]]",
            await self.redis.zrangebyscore(keys.SCHEDULE_NEXT, "-inf", _epoch(now), withscores=True),
        )
        return [(_text(name), float(score)) for name, score in found]

    async def advance(
        self,
        name: str,
        *,
        taken: float,
        following: datetime,
        task_id: str | None,
        missed: int,
        refused: bool = False,
        problem: str | None = None,
    ) -> bool:
        """Move `name` from the tick `taken` to `following`, recording the job it submitted (which clears its
        `last_problem`) or why it made none (`problem`; `refused`: by the owner's quota or rate); False if
        another step moved, paused or deleted it meanwhile."""
        tick = datetime.fromtimestamp(taken, UTC).isoformat()
        answer = await self._advance(
            keys=[keys.SCHEDULE_NEXT, keys.SCHEDULE_RUNS],
            args=[name, taken, _epoch(following), tick, task_id or "", missed, int(refused), problem or ""],
        )
        return bool(answer)

    async def drop(self, name: str) -> None:
        """Take a schedule whose definition is gone off the ticking set."""
        await self.redis.zrem(keys.SCHEDULE_NEXT, name)

    async def _all(self) -> list[Schedule]:
        stored = await self.redis.hgetall(keys.SCHEDULES)
        return [_stored(raw) for raw in stored.values()]

    async def _delete(self, name: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.SCHEDULES, name)
            pipe.zrem(keys.SCHEDULE_NEXT, name)
            pipe.hdel(keys.SCHEDULE_RUNS, name)
            await pipe.execute()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


STORED = {"stored": True}
"""Validation context of a schedule read back from Redis: its request is not checked against today's job
types (it was when it was made, and is again when a tick submits it), so one whose job type has gone since
is still listed, paused or deleted, and its ticks fail alone."""


def _stored(raw: str | bytes) -> Schedule:
    return Schedule.model_validate_json(raw, context=STORED)


FILE_PROBLEM = "in SCHEDULES_FILE, its job does not validate: "


def _file_problem(problem: str) -> str:
    return FILE_PROBLEM + problem


def _same(old: Schedule, new: ScheduleSpec) -> bool:
    """The same schedule but for `paused` (which the API may have changed since)."""
    fields = set(ScheduleSpec.model_fields) - {"paused"}
    return old.model_dump(include=fields) == new.model_dump(include=fields)


def _view(schedule: Schedule, score: float | None, runs: str | bytes | None) -> ScheduleView:
    done: dict[str, Any] = json.loads(runs) if runs else {}
    ticking = score is not None and not schedule.paused
    fields = schedule.model_dump() | {
        "next_run_at": datetime.fromtimestamp(float(score), UTC) if ticking and score is not None else None,
        "last_run_at": done.get("last_run_at"),
        "last_task_id": done.get("last_task_id"),
        "runs": done.get("runs", 0),
        "missed": done.get("missed", 0),
        "refused": done.get("refused", 0),
        "last_problem": done.get("last_problem"),
    }
    return ScheduleView.model_validate(fields, context=STORED)
