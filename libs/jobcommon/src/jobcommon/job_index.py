"""The listing and search index: which jobs match a filter, newest first, page by page, and how many there are
per status — from sorted sets the job-state scripts keep, never by reading every record.

Every job is in a few facet sorted sets (`keys.index_facets`: all jobs, by job type, by queue; each per owner
too), in each facet's set for its current status (`keys.status_index`), and in one set per search token
(`keys.search_token`), all scored by creation time. The scripts that create a job or change its status move
its entries in the same atomic step; its meta entry (`keys.INDEX_META`) lists them, so that the janitor's
`prune_index` (or a purge) removes them all once the record has gone.

A page walks the smallest of the sets involved (the filter's facet, or a search token's set) from a cursor
and tests the other sets' membership per entry (O(log n) each), looking at no more than a bounded number of
entries per call: a rare combination answers with fewer jobs and a cursor to go on from. A page that fills
up looks on (within the same bound) for one more match, so that it offers no cursor when nothing follows it.
Counts per status are one ZCOUNT each (O(log n)); with a search text they come from a bounded walk and say
when they are only a lower bound (`approximate`).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from jobcommon import keys
from jobcommon.models import JobStatus
from jobcommon.scripts import lua_source

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

PREFIX_EXPANSION = 32
"""The last search word also matches as a prefix: of at most this many indexed words starting with it."""
UNION_LIMIT = 50_000
"""A prefix's words are merged into one set to walk when they hold at most this many entries together."""
UNION_TTL_S = 30
COUNT_SCAN_LIMIT = 10_000
"""Most entries a count with a search text looks at (beyond it the counts are a lower bound)."""
_CURSOR = re.compile(r"^(?P<score>[0-9][0-9.e+-]{0,40})~(?P<task>[A-Za-z0-9_.:-]{1,128})$")


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A listing filter. `owner` None: every owner's jobs; `since`/`until`: creation time, epoch seconds."""

    owner: str | None = None
    status: JobStatus | None = None
    job_type: str | None = None
    queue: str | None = None
    since: float | None = None
    until: float | None = None
    tokens: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the last entry's score and task id (the next page starts after it)."""

    score: str
    task_id: str

    def encode(self) -> str:
        return f"{self.score}~{self.task_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """ValueError when `text` is not a cursor this index handed out."""
        match = _CURSOR.match(text)
        try:
            finite = match is not None and math.isfinite(float(match["score"]))
        except ValueError:  # e.g. "9.9.9": digits and dots, yet no number
            finite = False
        if match is None or not finite:
            raise ValueError("not a cursor from a previous page")
        return cls(match["score"], match["task"])


@dataclass(frozen=True, slots=True)
class IdPage:
    task_ids: list[str]
    cursor: Cursor | None
    """Where to go on from; None when the matching jobs are exhausted."""


@dataclass(frozen=True, slots=True)
class Counts:
    counts: dict[str, int]
    total: int
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class _Plan:
    driver: str
    must: list[str]
    any_of: list[str]


class JobIndex:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._page: AsyncScript = redis.register_script(lua_source("index_page"))
        self._forget: AsyncScript = redis.register_script(lua_source("index_forget"))
        self._prune: AsyncScript = redis.register_script(lua_source("index_prune"))
        self._prune_meta: AsyncScript = redis.register_script(lua_source("index_prune_meta"))

    async def page(
        self, query: JobQuery, *, limit: int, after: Cursor | None = None, skip: int = 0, scan_limit: int
    ) -> IdPage:
        """Task ids matching `query`, newest first: after `after`, passing over `skip` matches first. The
        cursor is None when no match follows (a full page looks for one more to know), and may be set on a
        short page when `scan_limit` entries were looked at before the page filled."""
        plan = await self._plan(query)
        if plan is None:
            return IdPage([], None)
        reply = await self._page(
            keys=[plan.driver, *plan.must, *plan.any_of],
            args=[
                _bound(query.until, "+inf"),
                _bound(query.since, "-inf"),
                after.score if after else "",
                after.task_id if after else "",
                skip,
                limit,
                scan_limit,
                len(plan.must),
                keys.JOB_PREFIX,
                keys.JOB_INDEX,
                0,
            ],
        )
        ids, score, task_id, exhausted = cast("list[Any]", reply)
        more = exhausted != "1" and bool(task_id)
        return IdPage([str(i) for i in ids], Cursor(str(score), str(task_id)) if more else None)

    async def counts(self, query: JobQuery) -> Counts:
        """How many jobs match `query` (its status ignored) in each status, and in all."""
        if query.tokens:
            return await self._counts_by_walk(query)
        facet = keys.facet(query.owner, job_type=query.job_type, queue=query.queue)
        if not self._consistent(query):
            return Counts({s.value: 0 for s in JobStatus}, 0)
        high, low = _bound(query.until, "+inf"), _bound(query.since, "-inf")
        async with self.redis.pipeline(transaction=False) as pipe:
            for status in JobStatus:
                pipe.zcount(keys.status_index(facet, status.value), low, high)
            numbers: list[int] = await pipe.execute()
        counts = {status.value: int(n) for status, n in zip(JobStatus, numbers, strict=True)}
        return Counts(counts, sum(counts.values()))

    async def _counts_by_walk(self, query: JobQuery) -> Counts:
        """Counts of a search: a walk (in Redis) over at most `COUNT_SCAN_LIMIT` entries, each matching one
        counted by the status set that holds it."""
        counts = {status.value: 0 for status in JobStatus}
        plan = await self._plan(replace(query, status=None))
        if plan is None:
            return Counts(counts, 0)
        facet = keys.facet(query.owner, job_type=query.job_type, queue=query.queue)
        statuses = [keys.status_index(facet, status.value) for status in JobStatus]
        must = [key for key in plan.must if key != facet]  # the status sets are the facet's, split
        reply = await self._page(
            keys=[plan.driver, *must, *plan.any_of, *statuses],
            args=[
                _bound(query.until, "+inf"),
                _bound(query.since, "-inf"),
                "",
                "",
                0,
                COUNT_SCAN_LIMIT,
                COUNT_SCAN_LIMIT,
                len(must),
                keys.JOB_PREFIX,
                keys.JOB_INDEX,
                len(statuses),
            ],
        )
        numbers, _score, _task_id, exhausted = cast("list[Any]", reply)
        counts = {status.value: int(n) for status, n in zip(JobStatus, numbers, strict=True)}
        return Counts(counts, sum(counts.values()), approximate=exhausted != "1")

    async def forget(self, task_ids: list[str]) -> int:
        """Drop the index entries of those of `task_ids` whose record has gone; returns how many."""
        if not task_ids:
            return 0
        return int(await self._forget(args=[keys.JOB_PREFIX, keys.JOB_INDEX, *task_ids]))

    async def prune(self, batch: int = 1000) -> int:
        """Drop the entries of every job whose record has expired: a walk over the global index, then over
        the index meta, `batch` entries per script call (each a short, bounded step in Redis)."""
        removed = 0
        rank = 0
        while True:
            looked, dropped = cast(
                "list[int]", await self._prune(args=[keys.JOB_PREFIX, keys.JOB_INDEX, rank, batch])
            )
            removed += int(dropped)
            rank += int(looked) - int(dropped)
            if int(looked) < batch:
                break
        cursor = "0"
        while True:  # jobs deleted and taken out of the global index only (their meta still lists the rest)
            step: list[str | int] = [cursor, batch, keys.JOB_PREFIX, keys.JOB_INDEX]
            cursor, dropped = cast("list[Any]", await self._prune_meta(args=step))
            removed += int(dropped)
            if str(cursor) == "0":
                return removed

    @staticmethod
    def _consistent(query: JobQuery) -> bool:
        """False when the job type lives on another queue than the one asked for (nothing can match)."""
        if query.job_type and query.queue:
            from jobcommon.job_types import JOB_TYPES

            try:
                return JOB_TYPES.get(query.job_type).queue.queue == query.queue
            except KeyError:
                return False
        return True

    async def _union(self, word_sets: list[str]) -> str | None:
        """The words a prefix expands to, as one short-lived sorted set (so that a rare prefix can drive the
        walk); None when together they are too large to be worth it (then each entry is tested)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in word_sets:
                pipe.zcard(key)
            sizes: list[int] = await pipe.execute()
        if sum(sizes) > UNION_LIMIT:
            return None
        union = keys.search_union(_digest(word_sets))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zunionstore(union, word_sets, aggregate="MIN")
            pipe.expire(union, UNION_TTL_S)
            await pipe.execute()
        return union

    async def _plan(self, query: JobQuery) -> _Plan | None:
        """The sets to walk and test, the smallest one walked; None when nothing can match."""
        if not self._consistent(query):
            return None
        facet = keys.facet(query.owner, job_type=query.job_type, queue=query.queue)
        if query.status is not None:
            facet = keys.status_index(facet, query.status.value)
        exact = [keys.search_token(t) for t in query.tokens[:-1]]
        any_of: list[str] = []
        if query.tokens:
            last = query.tokens[-1]
            words = cast(
                "list[str]",
                await self.redis.zrangebylex(
                    keys.VOCABULARY,
                    b"[" + last.encode(),
                    b"[" + last.encode() + b"\xff",
                    start=0,
                    num=PREFIX_EXPANSION,
                ),
            )
            if not words:
                return None
            expanded = [keys.search_token(str(w)) for w in words]
            if len(expanded) == 1:
                exact += expanded
            else:
                union = await self._union(expanded)
                if union is None:
                    any_of = expanded
                else:
                    exact.append(union)
        candidates = [facet, *exact]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in candidates:
                pipe.zcard(key)
            sizes: list[int] = await pipe.execute()
        if min(sizes) == 0:
            return None
        driver = candidates[sizes.index(min(sizes))]
        return _Plan(driver, [k for k in candidates if k != driver], any_of)


def _digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:32]


def _bound(value: float | None, default: str) -> str:
    return default if value is None else repr(float(value))
