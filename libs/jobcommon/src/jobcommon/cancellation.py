"""Tolerating errors without swallowing a cancellation, and stopping a task for sure.

redis-py (like other clients) can surface the cancellation of the awaiting task as a connection or timeout
error. A loop that rides out Redis hiccups by catching those errors would then keep running after it was
told to stop — a watcher that never ends, a service that never shuts down. Every such handler goes through
here.

A cancellation can also be dropped outright: Python 3.11's `asyncio.wait_for` (which redis-py uses) returns
the result when the cancel lands as the awaited command completes. One `task.cancel()` followed by
`await task` then waits for a loop that goes on forever; every long-lived task (a handler, a service's
background loops) is stopped through `cancel_and_wait`, which asks again until the task has ended. (Asking
again also interrupts a task's own clean-up after its first CancelledError: clean-up that must finish is
shielded by the task.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterator

log = logging.getLogger("mediajobs.tasks")

T = TypeVar("T")

RECANCEL_EVERY_S = 0.1
"""How often `cancel_and_wait` repeats its request while the task has not ended."""


def reraise_if_cancelling(exc: BaseException) -> None:
    """Turn `exc` back into the cancellation it hides, if the current task is being cancelled."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


@contextlib.contextmanager
def tolerating(*errors: type[BaseException]) -> Iterator[None]:
    """Like `contextlib.suppress(*errors)`, except that a cancellation in disguise is re-raised."""
    try:
        yield
    except errors as exc:
        reraise_if_cancelling(exc)


async def cancel_and_wait(
    task: asyncio.Future[Any], *, within_s: float | None = None, report: bool = True
) -> bool:
    """Cancel `task` and wait for it to end, repeating the request every RECANCEL_EVERY_S (a single one can
    be dropped, see above); at least one round, so a task that stops at once counts as stopped. True if it
    ended within `within_s` (None: however long it takes). A task that had failed instead has its error
    logged (a background loop that died of a bug must leave a trace) unless `report` is False (its caller
    reads how it ended); either way the error counts as retrieved."""
    deadline = None if within_s is None else time.monotonic() + within_s
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_EVERY_S)
        if deadline is not None and time.monotonic() >= deadline:
            break
    if task.done() and not task.cancelled() and (error := task.exception()) is not None and report:
        name = task.get_name() if isinstance(task, asyncio.Task) else repr(task)
        log.warning("%s failed (before or while it was stopped): %r", name, error, exc_info=error)
    return task.done()


async def outlasting_cancellation(work: Awaitable[T], *, within_s: float) -> T | None:
    """Await `work` to its end (or for `within_s`) even while this task is being cancelled: the clean-up on
    the way out of a cancelled run. FastStream cancels a handler through an anyio cancel scope, which cancels
    it anew at each await, so a plain `await` (even of `asyncio.shield`) is interrupted before the clean-up is
    done: the wait runs in a shielded anyio scope, which those cancellations do not reach. A plain
    `task.cancel()` from elsewhere still lands; it is ridden out too, until `within_s`. None if `work` did not
    end in time (it is cancelled then) or failed (logged)."""
    task = asyncio.ensure_future(work)
    deadline = time.monotonic() + within_s
    with anyio.CancelScope(shield=True):
        while not task.done() and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task}, timeout=left)
    if not task.done():
        task.cancel()
        return None
    if task.cancelled():
        return None
    if (error := task.exception()) is not None:
        log.warning("clean-up failed while stopping: %r", error)
        return None
    return task.result()
