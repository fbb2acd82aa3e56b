"""Clean-up on the way out of a cancelled run (`jobcommon.cancellation.outlasting_cancellation`)."""

from __future__ import annotations

import asyncio
import time

import anyio

from jobcommon.cancellation import outlasting_cancellation


async def _cancelled_in_a_task_group(clean_up_s: float, within_s: float) -> tuple[str | None, float]:
    """A task of an anyio task group (as FastStream runs a handler) is cancelled by its scope, which cancels
    it anew at every await; it then runs a clean-up of `clean_up_s`. What the clean-up returned, and the CPU
    time the wait took."""
    outcome: list[tuple[str | None, float]] = []

    async def clean_up() -> str:
        await asyncio.sleep(clean_up_s)
        return "released"

    async def run() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            began = time.process_time()
            released = await outlasting_cancellation(clean_up(), within_s=within_s)
            outcome.append((released, time.process_time() - began))

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await asyncio.sleep(0.05)
        group.cancel_scope.cancel()
    return outcome[0]


async def test_a_clean_up_outlasts_a_cancel_scope_without_spinning() -> None:
    """The clean-up ends although the scope keeps cancelling, and the wait sleeps (a loop catching each new
    cancellation would spin a core for the whole clean-up)."""
    released, cpu_s = await _cancelled_in_a_task_group(clean_up_s=0.5, within_s=5.0)
    assert released == "released"
    assert cpu_s < 0.2, f"{cpu_s:.2f} s of CPU in a 0.5 s wait"


async def test_a_clean_up_that_does_not_end_is_given_up_after_its_bound() -> None:
    began = time.monotonic()
    released, _ = await _cancelled_in_a_task_group(clean_up_s=30.0, within_s=0.3)
    assert released is None
    assert time.monotonic() - began < 5.0
