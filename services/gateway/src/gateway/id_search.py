"""Finding jobs by task id in the listing's search text: a whole id, its first digits, or the id as the
dashboard and the CLI shorten it (`7ffd509e…0bed`, also with `...`), as `jobcommon.task_id_patterns` reads it.

The same rules as the CLI's (`mediajobs_cli.api`): a whole id (32 hex digits) names its job whatever its age;
a shorter one is looked for among the `LOOKED_AT` newest jobs of the caller's scope (an owner's, or for an
admin everyone's or one owner's), so that a search never reads more than a bounded number of index entries.
Such a text is a search text too (`2024`, `cafe` may be words of a title): the listing holds both kinds of
match, merged newest first (`merge`), each job once; the counts count each job once (`count_extra`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from jobcommon import Job, JobNotFound
from jobcommon.job_index import Cursor, JobQuery
from jobcommon.search_tokens import TOKEN_LIMIT, outcome_tokens, request_tokens, shown_words
from jobcommon.task_id_patterns import IdPattern

if TYPE_CHECKING:
    from jobcommon import JobClient

LOOKED_AT = 500
"""How many of the newest jobs in scope a short id is looked for in (as the CLI does)."""


def _position(job: Job) -> tuple[float, str]:
    """Where a job stands in the listing's order (newest first: by creation time, then by task id)."""
    return job.created_at.timestamp(), job.task_id


def _in_scope(job: Job, query: JobQuery) -> bool:
    created = job.created_at.timestamp()
    return (
        (query.owner is None or job.owner == query.owner)
        and (query.job_type is None or job.job_type == query.job_type)
        and (query.queue is None or job.queue == query.queue)
        and (query.since is None or created >= query.since)
        and (query.until is None or created <= query.until)
    )


async def jobs_by_id(client: JobClient, query: JobQuery, pattern: IdPattern) -> list[Job]:
    """The jobs of `query`'s scope and filters (its status and search words ignored) whose id `pattern`
    names, newest first: a whole id's job, or the matches among the scope's `LOOKED_AT` newest jobs."""
    if pattern.whole:
        try:
            found = [await client.store.get(pattern.head)]
        except JobNotFound:
            return []
    else:
        newest = await client.store.index.page(
            replace(query, status=None, tokens=()), limit=LOOKED_AT, scan_limit=LOOKED_AT
        )
        named = [task_id for task_id in newest.task_ids if pattern.matches(task_id)]
        read = await asyncio.gather(*(client.store.get(task_id) for task_id in named), return_exceptions=True)
        found = [job for job in read if isinstance(job, Job)]  # the others expired since
    return sorted((job for job in found if _in_scope(job, query)), key=_position, reverse=True)


@dataclass(frozen=True, slots=True)
class MergedPage:
    jobs: list[Job]
    next_cursor: str | None


def merge(
    text_jobs: list[Job], text_cursor: str | None, by_id: list[Job], after: str | None, limit: int
) -> MergedPage:
    """One page of the listing holding both kinds of match: the search page `text_jobs` (which went on from
    `after` and stopped at `text_cursor`), with the jobs of `by_id` that stand between the same two places,
    newest first, each job once, at most `limit`. A page cut short at `limit` ends at its last job (the next
    page walks on from there)."""
    high = _cursor_position(after)
    low = _cursor_position(text_cursor)
    window = [
        job
        for job in by_id
        if (high is None or _position(job) < high) and (low is None or _position(job) >= low)
    ]
    unique = {job.task_id: job for job in [*text_jobs, *window]}
    jobs = sorted(unique.values(), key=_position, reverse=True)
    if len(jobs) > limit:
        jobs = jobs[:limit]
        last = jobs[-1]
        return MergedPage(jobs, Cursor(repr(last.created_at.timestamp()), last.task_id).encode())
    return MergedPage(jobs, text_cursor)


def _cursor_position(text: str | None) -> tuple[float, str] | None:
    if not text:
        return None
    cursor = Cursor.decode(text)
    return float(cursor.score), cursor.task_id


def text_matches(tokens: tuple[str, ...], job: Job) -> bool:
    """Whether the search words `tokens` find `job` by its text too (as the index would: every word one of
    its tokens, the last also as a prefix), judged from its record."""
    held: list[str] = []
    for group in (
        request_tokens(job.request),
        *(shown_words(f"{e.type} {e.message}") for e in job.errors),  # each failed attempt's, oldest first
        outcome_tokens(job.result, job.error.model_dump() if job.error else None),
    ):
        held += [token for token in group if token not in held]
    held = held[:TOKEN_LIMIT]
    *exact, last = tokens
    return all(token in held for token in exact) and any(token.startswith(last) for token in held)


def count_extra(by_id: list[Job], tokens: tuple[str, ...]) -> dict[str, int]:
    """Per status, the jobs found by id that the search words alone do not find (the counts add them)."""
    extra: dict[str, int] = {}
    for job in by_id:
        if not tokens or not text_matches(tokens, job):
            extra[job.status.value] = extra.get(job.status.value, 0) + 1
    return extra
