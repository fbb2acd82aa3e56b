"""A worker's slots: how many of its `concurrency` the messages it has taken hold, from the read that takes a
message to the end of its handling.

A service reads only as many messages as it has free slots (`jobcommon.steady_reads`), so that no message
waits inside a busy worker: one that did would not be started, so not renewed, and once its lease ran out it
would be reclaimed as lost while its worker lives. FastStream's own count of busy slots (its semaphore) misses
the messages it has handed to a handler task that has not started yet, so a read right after a handover would
take too many; counting here, by lane and entry id (the lanes are streams of their own, and entries added to
two of them in the same millisecond have the same id), from the read to the job middleware's exit, misses
none.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

log = logging.getLogger("mediajobs.reads")

CHECK_IDLE_S = 1.0
"""How often a read waiting for a slot asks whether its worker is idle after all (see `wait_free`)."""


class WorkerSlots:
    def __init__(self, size: int) -> None:
        self.size = size
        self._held: set[tuple[str, bytes]] = set()
        self._freed = asyncio.Event()

    def free(self) -> int:
        return self.size - len(self._held)

    def take(self, stream: str, entry_ids: Iterable[bytes]) -> None:
        """Messages just read from `stream`: each holds a slot until `done`."""
        self._held.update((stream, entry_id) for entry_id in entry_ids)

    def done(self, stream: str, entry_id: bytes) -> None:
        """A message's handling ended (whatever its outcome): its slot is free. Unknown ones are ignored."""
        if (stream, entry_id) in self._held:
            self._held.discard((stream, entry_id))
            self._freed.set()

    async def wait_free(self, idle: Callable[[], bool]) -> int:
        """Wait until a slot is free; how many are.

        A message that never reached its handling (FastStream dropped it) would hold its slot for good; so
        every CHECK_IDLE_S of waiting, a worker that `idle` says runs nothing frees what it holds."""
        while (free := self.free()) <= 0:
            self._freed.clear()
            try:
                await asyncio.wait_for(self._freed.wait(), CHECK_IDLE_S)
            except TimeoutError:
                if idle():
                    lost = len(self._held)
                    log.warning("%d taken messages never reached a handler; their slots are free again", lost)
                    self._held.clear()
        return free
