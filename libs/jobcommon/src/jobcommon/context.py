"""What a running handler knows about its job, and how it reports back."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from faststream import Depends

from jobcommon.models import Job
from jobcommon.progress import ProgressReporter

# Runtime imports above on purpose: FastStream resolves handler annotations (JobCtx) when it builds the call.

_current: ContextVar[JobContext] = ContextVar("mediajobs_job")


@dataclass(slots=True)
class JobContext:
    """The running job as its handler sees it.

    `output_dir` (MEDIA_ROOT/<task_id>) keeps what the job produces; it is removed if the job fails or is
    cancelled. `temp_dir` is scratch space, removed whatever the outcome. Neither is created until a handler
    asks for it with `ensure_dirs()`.
    """

    job: Job
    output_dir: Path
    temp_dir: Path
    reporter: ProgressReporter
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    soft_limit_reached: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def task_id(self) -> str:
        return self.job.task_id

    @property
    def attempt(self) -> int:
        return self.job.attempts

    async def progress(self, percent: float | None = None, message: str = "", **fields: Any) -> None:
        """Report progress: stored as the job's latest, announced to live listeners, bursts coalesced."""
        await self.reporter.update(percent, message, **fields)

    async def record_item(self, index: int, result: dict[str, Any]) -> None:
        """Store one item's result of a bulk job (read page by page: GET /jobs/{task_id}/items).

        Kept out of the job record, so a 10,000-item job never becomes one giant Redis value.
        """
        await self.reporter.store.record_item(self.task_id, index, result)

    def ensure_dirs(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.temp_dir.mkdir(parents=True, exist_ok=True)


def current_job() -> JobContext:
    """The job being handled in this task (a LookupError outside a job handler)."""
    return _current.get()


def bind(ctx: JobContext) -> object:
    return _current.set(ctx)


async def _inject_job() -> JobContext:
    # async on purpose: FastStream runs a sync dependency in a worker thread, once per message
    return _current.get()


JobCtx = Annotated[JobContext, Depends(_inject_job)]
"""Handler parameter annotation: `async def handle(request: EchoRequest, ctx: JobCtx) -> EchoResult`."""
