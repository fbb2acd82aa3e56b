"""Dead letters: list with filters, groups by error type, and bulk retry / purge (bounded per call, with a
dry run that only counts)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gateway.api_keys import ApiKey
from gateway.auth import Admin, Caller, Submitter
from gateway.public_view import PublicDeadLetter
from gateway.routes import Client, invalid, scope_of, search
from gateway.schemas import Problem
from jobcommon import JOB_TYPES, DeadLetter
from jobcommon.dead_letters import DeadEntry, DeadFilter
from jobcommon.requests.safe_text import safe_text
from jobcommon.search_tokens import MAX_QUERY_LENGTH
from jobcommon.task_id_patterns import id_pattern

router = APIRouter(prefix="/jobs/dead", tags=["dead letters"])

BULK_LIMIT = 1000
"""Most jobs one bulk call retries or purges (call again for the rest)."""

ErrorType = Annotated[str | None, Query(max_length=200, description="Error type (or dead-letter reason).")]
JobTypeName = Annotated[str | None, Query(max_length=100)]
SEARCH_HELP = (
    "Search text: every word must be in the job's URL, title or error text (the last word also as a prefix); "
    "case-insensitive. A text that reads as a task id also finds the dead job(s) with that id: the whole id "
    "(32 hex digits), its first 4+ digits, or as the dashboard shortens it, `7ffd509e…0bed` (also `...`), "
    "among every dead letter in the caller's scope."
)
SearchText = Annotated[str | None, Query(max_length=MAX_QUERY_LENGTH, description=SEARCH_HELP)]
Owner = Annotated[str | None, Query(max_length=64, description="Admins only: one owner's.")]


class DeadGroupOut(BaseModel):
    error_type: str
    count: int
    job_types: dict[str, int]


class DeadSummary(BaseModel):
    groups: list[DeadGroupOut]
    total: int


class DeadSelection(BaseModel):
    """Which dead letters an action takes: the filter's (all of them, up to the per-call bound)."""

    model_config = ConfigDict(extra="forbid")

    error_type: str | None = Field(default=None, max_length=200)
    job_type: str | None = Field(default=None, max_length=100)
    q: str | None = Field(default=None, max_length=MAX_QUERY_LENGTH, description=SEARCH_HELP)
    owner: str | None = Field(default=None, max_length=64, description="Admins only: one owner's.")


def task_id_text(value: str) -> str:
    """Validator: what could be a task id, as `/jobs/{task_id}` takes one (one path segment, no `.` or `..`)
    and with no control, invisible or bidi character; one that is no job's is only not matched. A bad one is
    named in the 422, by its index (`task_ids.3`) and its value."""
    try:
        safe_text(value)
    except ValueError:
        raise ValueError(f"{value!r} cannot be a task id: it holds control or invisible characters") from None
    if "/" in value or value in (".", ".."):
        raise ValueError(f"{value!r} cannot be a task id: it is no single path segment")
    return value


class DeadAction(BaseModel):
    """Either `task_ids` or a `filter`; with `dry_run` nothing changes and `matched` says how many would."""

    model_config = ConfigDict(extra="forbid")

    task_ids: (
        list[Annotated[str, Field(min_length=1, max_length=128), AfterValidator(task_id_text)]] | None
    ) = Field(default=None, max_length=BULK_LIMIT)
    filter: DeadSelection | None = None
    dry_run: bool = False

    @model_validator(mode="after")
    def one_selection(self) -> Self:
        if (self.task_ids is None) == (self.filter is None):
            raise ValueError("give either task_ids or filter")
        return self


class RetryOutcome(BaseModel):
    matched: int
    """Dead letters the selection matched (in the caller's scope)."""
    retried: int
    """Jobs queued again by this call (at most 1000; 0 on a dry run)."""


class PurgeOutcome(BaseModel):
    matched: int
    purged: int
    """Jobs deleted by this call (at most 1000; 0 on a dry run)."""


def _filter(
    key: ApiKey, owner: str | None, error_type: str | None, job_type: str | None, q: str | None, loc: str
) -> DeadFilter:
    if job_type is not None and job_type not in JOB_TYPES.names():
        raise invalid("job_type", f"unknown job type {job_type!r}")
    return DeadFilter(
        owner=scope_of(key, owner),
        error_type=error_type,
        job_type=job_type,
        tokens=search(q, (loc, "q")),
        by_id=id_pattern(q),
    )


def _oldest(entries: list[DeadEntry]) -> list[DeadEntry]:
    """The oldest `BULK_LIMIT` of `entries` (listed newest first): what one call acts on."""
    return entries[::-1][:BULK_LIMIT]


async def _selected(client: Client, key: ApiKey, action: DeadAction) -> list[DeadEntry]:
    if action.filter is not None:
        chosen = action.filter
        only = _filter(key, chosen.owner, chosen.error_type, chosen.job_type, chosen.q, "body")
        return await client.dead.entries(only)
    wanted = set(action.task_ids or [])
    everything = await client.dead.entries(DeadFilter(owner=scope_of(key, None)))
    return [entry for entry in everything if entry.task_id in wanted]


@router.get("", response_model=list[PublicDeadLetter])
async def dead_letters(
    client: Client,
    key: Caller,
    error_type: ErrorType = None,
    job_type: JobTypeName = None,
    q: SearchText = None,
    owner: Owner = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Annotated[
        Literal["newest", "oldest"],
        Query(description="`oldest`: the oldest first, as bulk retry and purge take them."),
    ] = "newest",
) -> list[DeadLetter]:
    """Jobs that ran out of attempts, newest first (or the oldest first: what a bulk retry or purge by the
    same filter would take); retry one with POST /jobs/{task_id}/retry. The caller's own unless it is an
    admin. An unknown error type matches nothing."""
    only = _filter(key, owner, error_type, job_type, q, "query")
    return await client.dead_letters(
        limit,
        owner=only.owner,
        error_type=only.error_type,
        job_type=only.job_type,
        tokens=only.tokens,
        by_id=only.by_id,
        oldest_first=order == "oldest",
    )


@router.get("/summary", response_model=DeadSummary)
async def dead_summary(
    client: Client,
    key: Caller,
    job_type: JobTypeName = None,
    q: SearchText = None,
    owner: Owner = None,
) -> DeadSummary:
    """The caller's dead letters grouped by error type (largest first), with each group's job types."""
    groups = await client.dead.summary(_filter(key, owner, None, job_type, q, "query"))
    return DeadSummary(
        groups=[DeadGroupOut(error_type=g.error_type, count=g.count, job_types=g.job_types) for g in groups],
        total=sum(g.count for g in groups),
    )


@router.post("/retry", response_model=RetryOutcome, responses={422: {"model": Problem}})
async def retry_dead(client: Client, key: Submitter, action: DeadAction) -> RetryOutcome:
    """Retry dead letters: the listed ones or all matching a filter (submit role: the caller's own; admin:
    anyone's), at most 1000 per call, the oldest first (a retried job that fails again is the newest dead
    letter then: calling again goes on with the rest). `dry_run` only counts."""
    entries = await _selected(client, key, action)
    if action.dry_run:
        return RetryOutcome(matched=len(entries), retried=0)
    retried = await client.retry_many([entry.task_id for entry in _oldest(entries)])
    return RetryOutcome(matched=len(entries), retried=len(retried))


@router.post("/purge", response_model=PurgeOutcome, responses={422: {"model": Problem}})
async def purge_dead(client: Client, key: Admin, action: DeadAction) -> PurgeOutcome:
    """Delete dead letters and their jobs' records (admin): the listed ones or all matching a filter, at
    most 1000 per call, the oldest first. `dry_run` only counts."""
    entries = await _selected(client, key, action)
    if action.dry_run:
        return PurgeOutcome(matched=len(entries), purged=0)
    return PurgeOutcome(matched=len(entries), purged=await client.dead.purge(_oldest(entries)))
