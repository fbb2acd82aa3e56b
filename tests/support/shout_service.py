"""The service of the `shout` plugin job type: `python -m tests.support.shout_service`."""

from __future__ import annotations

from jobcommon import JobCtx, JobService, WorkerSettings
from jobcommon.logs import configure_logging
from tests.support.shout import SHOUTING, ShoutRequest, ShoutResult


async def shout(request: ShoutRequest, ctx: JobCtx) -> ShoutResult:
    await ctx.progress(50, "taking a breath")
    return ShoutResult(text=request.text.upper() + "!")


def build(settings: WorkerSettings | None = None) -> JobService:
    service = JobService("shouter", SHOUTING, settings or WorkerSettings())
    service.handler(ShoutRequest)(shout)
    return service


if __name__ == "__main__":
    configure_logging("shouter")
    build().serve()
