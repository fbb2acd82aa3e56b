"""Dead letters: jobs that ran out of attempts, as entries of the dead-letter stream (`keys.DEAD_LETTERS`,
capped near `store.DEAD_LETTER_MAXLEN`), filtered, grouped by error type, and purged.

Every read walks the capped stream (bounded by its cap) and reads a few fields of each job; a search text's
words are answered by the listing index (`jobcommon.job_index`), and a search text that reads as a task id
(`jobcommon.task_id_patterns`) is matched against the ids the stream names, so no record is read in full to
filter. Unlike the jobs listing's, a short id is looked for among every dead letter (the stream is walked
whole anyway), not only among the newest jobs."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from jobcommon import keys
from jobcommon.job_index import COUNT_SCAN_LIMIT, JobQuery
from jobcommon.models import JobStatus
from jobcommon.scripts import lua_source

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

    from jobcommon.store import JobStore
    from jobcommon.task_id_patterns import IdPattern

READ_BATCH = 1000


@dataclass(frozen=True, slots=True)
class DeadFilter:
    """Which dead letters: one owner's (None: everyone's), of an error type (or dead-letter reason), of a job
    type, and found by the search: whose URL / title / error text holds every search token, or whose task id
    `by_id` names (the id the search text reads as); either suffices, and with neither every one is."""

    owner: str | None = None
    error_type: str | None = None
    job_type: str | None = None
    tokens: tuple[str, ...] = ()
    by_id: IdPattern | None = None

    def searched_for(self, task_id: str, by_words: set[str] | None) -> bool:
        """Whether the search finds `task_id`, given the jobs its words find (None: no words searched)."""
        if by_words is None and self.by_id is None:
            return True
        return (by_words is not None and task_id in by_words) or (
            self.by_id is not None and self.by_id.matches(task_id)
        )


@dataclass(frozen=True, slots=True)
class DeadEntry:
    """One dead job, with every dead-letter entry naming it (newest first)."""

    task_id: str
    entry_ids: list[str]
    reason: str
    error_type: str
    job_type: str
    owner: str | None


@dataclass(frozen=True, slots=True)
class DeadGroup:
    error_type: str
    count: int
    job_types: dict[str, int] = field(default_factory=dict)


def _error_type(raw_error: str | None, reason: str) -> str:
    if raw_error:
        try:
            decoded = json.loads(raw_error)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and isinstance(decoded.get("type"), str):
            return str(decoded["type"])
    return reason or "unknown"


class DeadLetters:
    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.redis = store.redis
        self._purge: AsyncScript = self.redis.register_script(lua_source("dead_purge"))

    async def entries(self, only: DeadFilter) -> list[DeadEntry]:
        """Every dead job matching `only`, newest first (jobs retried since, or whose record expired, are
        left out)."""
        searched: set[str] | None = None
        if only.tokens:
            query = JobQuery(
                owner=only.owner, status=JobStatus.FAILED, job_type=only.job_type, tokens=only.tokens
            )
            page = await self.store.index.page(query, limit=COUNT_SCAN_LIMIT, scan_limit=COUNT_SCAN_LIMIT)
            searched = set(page.task_ids)
            if not searched and only.by_id is None:
                return []
        found: dict[str, DeadEntry] = {}
        high = "+"
        while True:
            batch = cast(
                "list[tuple[str, dict[str, str]]]",
                await self.redis.xrevrange(keys.DEAD_LETTERS, high, "-", count=READ_BATCH),
            )
            if not batch:
                break
            await self._collect(batch, only, searched, found)
            if len(batch) < READ_BATCH:
                break
            high = "(" + str(batch[-1][0])
        return list(found.values())

    async def _collect(
        self,
        batch: list[tuple[str, dict[str, str]]],
        only: DeadFilter,
        searched: set[str] | None,
        found: dict[str, DeadEntry],
    ) -> None:
        wanted = [
            (str(entry_id), fields)
            for entry_id, fields in batch
            if fields.get("task_id") and only.searched_for(fields["task_id"], searched)
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for _entry_id, fields in wanted:
                pipe.hmget(keys.job(fields["task_id"]), "status", "dead", "owner", "job_type", "error")
            records: list[list[str | None]] = await pipe.execute()
        for (entry_id, fields), (status, dead, owner, job_type, error) in zip(wanted, records, strict=True):
            task_id = fields["task_id"]
            if task_id in found:
                found[task_id].entry_ids.append(entry_id)
                continue
            if status != JobStatus.FAILED or dead != "1":
                continue
            if only.owner is not None and owner != only.owner:
                continue
            if only.job_type is not None and job_type != only.job_type:
                continue
            reason = fields.get("reason", "")
            error_type = _error_type(error, reason)
            if only.error_type is not None and only.error_type not in (error_type, reason):
                continue
            found[task_id] = DeadEntry(task_id, [entry_id], reason, error_type, job_type or "", owner or None)

    async def summary(self, only: DeadFilter) -> list[DeadGroup]:
        """The matching dead jobs grouped by error type, largest group first."""
        groups: dict[str, Counter[str]] = {}
        for entry in await self.entries(only):
            groups.setdefault(entry.error_type, Counter())[entry.job_type] += 1
        ordered = sorted(groups.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        return [DeadGroup(name, sum(types.values()), dict(types)) for name, types in ordered]

    async def purge(self, entries: list[DeadEntry]) -> int:
        """Delete these dead jobs (records, items, index entries) and their dead-letter entries; returns how
        many jobs were deleted (one retried meanwhile stays)."""
        argv: list[Any] = [keys.JOB_PREFIX, keys.JOB_INDEX]
        for entry in entries:
            argv += [entry.task_id, keys.job_items(entry.task_id), " ".join(entry.entry_ids)]
        if not entries:
            return 0
        return int(await self._purge(keys=[keys.DEAD_LETTERS], args=argv))
