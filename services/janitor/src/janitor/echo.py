"""The `echo` job: returns its payload after an optional sleep, reporting progress while it sleeps.

It can also fail on purpose (`fail_with`, `fail_kind`, `fail_attempts`), ignore cancellation
(`ignore_cancel`) and hog its event loop (`block_s`), which is how the tests and benchmarks exercise
retries, dead letters, time limits and liveness.
"""

from __future__ import annotations

import asyncio
import time

from jobcommon import EchoRequest, EchoResult, JobCtx, PermanentError, TransientError


async def echo(request: EchoRequest, ctx: JobCtx) -> EchoResult:
    if request.block_s:
        time.sleep(request.block_s)  # noqa: ASYNC251 - on purpose: a handler hogging its event loop
    if request.ignore_cancel:
        await _sleep_ignoring_cancellation(request.sleep_s)
    else:
        await _sleep_with_progress(request.sleep_s, request.step_s, ctx)
    failing = request.fail_attempts is None or len(ctx.job.errors) < request.fail_attempts
    if request.fail_with is not None and failing:
        if request.fail_kind == "transient":
            raise TransientError(request.fail_with, error_type="EchoFlaky")
        if request.fail_kind == "unknown":
            raise RuntimeError(request.fail_with)
        raise PermanentError(request.fail_with, error_type="EchoFailed")
    return EchoResult(payload=request.payload)


async def _sleep_with_progress(seconds: float, step_s: float, ctx: JobCtx) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(step_s, left))
        done = seconds - max(0.0, deadline - time.monotonic())
        await ctx.progress(100.0 * done / seconds, f"slept {done:.1f}/{seconds:g} s")


async def _sleep_ignoring_cancellation(seconds: float) -> None:
    """Behave like a badly written handler: swallow cancellation and keep going (a runaway job)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            await asyncio.sleep(left)
        except asyncio.CancelledError:
            continue
