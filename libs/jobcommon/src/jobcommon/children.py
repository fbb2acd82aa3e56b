"""Jobs made of jobs: a parent (e.g. a playlist) spawns one child per entry and ends when the last child ends.

At most `concurrency` children are on their queue at once; the others wait in the parent's held stream and
are released one by one as children end. The parent holds no worker while it waits: its progress (entries
done / failed / cancelled / running / total, bytes, speed), its items and its end are written by the
children's own transitions, atomically (lua/lib_parent.lua): each end, and their progress reports, which
recount the parent at most every `live_interval` (0.5 s; longer for a parent of more than 50 children), so
its percent is (ended + the running ones' fractions) / total. Each child's item is `queued` from the start
and then as its job stands (running with its progress, retrying) until its outcome replaces it. The parent's
result is `{total, succeeded, failed, cancelled, bytes}`.
Each child is a full job of its own: retried, cancelled and traced on its own. A child retried after it
failed, even once its parent has ended, replaces its item and corrects the parent's counts and result when it
ends again. Children run one priority below their parent unless their request names one
(`jobcommon.priorities`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobcommon import keys
from jobcommon.items import ItemRecord
from jobcommon.job_types import JOB_TYPES
from jobcommon.priorities import lowered
from jobcommon.submission import Submission, child_id, submit_many
from jobcommon.ytdlp.smuggling import unsmuggled

if TYPE_CHECKING:
    from collections.abc import Sequence

    from jobcommon.context import JobContext
    from jobcommon.requests import AnyJobRequest


@dataclass(frozen=True, slots=True)
class AwaitChildren:
    """What a handler returns once it has spawned children: the job ends when its last child ends."""

    children: list[str]
    stream: str
    """Where the children's messages go when released: their queue's lane (`jobcommon.priorities`)."""
    concurrency: int


async def spawn_children(
    ctx: JobContext, requests: Sequence[AnyJobRequest], *, concurrency: int
) -> AwaitChildren:
    """Create one child job per request (held, in order) and return the handler's `AwaitChildren` result.

    Idempotent: a parent that runs again after a crash finds the children it made before.
    """
    if not requests:
        raise ValueError("a parent needs at least one child; return a result instead")
    below = lowered(ctx.job.priority)  # a single job at the parent's priority overtakes its children
    requests = [r if r.priority is not None else r.model_copy(update={"priority": below}) for r in requests]
    streams = {JOB_TYPES.stream_of(r) for r in requests}
    if len(streams) != 1:
        raise ValueError("all children of one parent must share a queue and a priority")
    held = keys.held(ctx.task_id)
    ids = [child_id(ctx.task_id, index) for index in range(len(requests))]
    # one round trip; a child made by an earlier run of the parent is refused (JobStateConflict) and kept
    await submit_many(
        ctx.reporter.store,
        [
            Submission(request, task_id, ctx.task_id, index, held, ctx.job.owner)
            for index, (task_id, request) in enumerate(zip(ids, requests, strict=True))
        ],
    )
    await _queued_items(ctx, ids, requests)
    return AwaitChildren(ids, streams.pop(), concurrency)


def _queued_item(index: int, task_id: str, request: AnyJobRequest) -> ItemRecord:
    """A child's item before its job starts: what it is (its plain URL, or its task id) and that it waits."""
    url = getattr(request, "url", None)
    shown = unsmuggled(url) if isinstance(url, str) else task_id
    return ItemRecord(index=index, item=shown, status="queued", attempts=0, task_id=task_id)


async def _queued_items(ctx: JobContext, ids: Sequence[str], requests: Sequence[AnyJobRequest]) -> None:
    """Every child's item, `queued`, where it has none yet (a parent run again keeps its children's items)."""
    store = ctx.reporter.store
    items = keys.job_items(ctx.task_id)
    async with store.redis.pipeline(transaction=False) as pipe:
        for index, (task_id, request) in enumerate(zip(ids, requests, strict=True)):
            pipe.hsetnx(
                items, str(index), _queued_item(index, task_id, request).model_dump_json(exclude_none=True)
            )
        pipe.expire(items, store.settings.queued_ttl_s + store.settings.result_ttl_s)
        await pipe.execute()
