"""Tolerating errors without swallowing a cancellation.

redis-py (like other clients) can surface the cancellation of the awaiting task as a connection or timeout
error. A loop that rides out Redis hiccups by catching those errors would then keep running after it was
told to stop — a watcher that never ends, a service that never shuts down. Every such handler goes through
here.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


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
