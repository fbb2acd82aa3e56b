"""The `echo` job: returns its payload after an optional sleep, reporting progress while it sleeps."""

from __future__ import annotations

import asyncio
import time

from jobcommon import EchoRequest, EchoResult, JobCtx, PermanentError

STEP_S = 0.1


async def echo(request: EchoRequest, ctx: JobCtx) -> EchoResult:
    deadline = time.monotonic() + request.sleep_s
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(STEP_S, left))
        done = request.sleep_s - max(0.0, deadline - time.monotonic())
        await ctx.progress(100.0 * done / request.sleep_s, f"slept {done:.1f}/{request.sleep_s:g} s")
    if request.fail_with is not None:
        raise PermanentError(request.fail_with, error_type="EchoFailed")
    return EchoResult(payload=request.payload)
