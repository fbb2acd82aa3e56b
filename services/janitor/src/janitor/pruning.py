"""Housekeeping: drop index entries of jobs whose records have expired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from jobcommon.store import JobStore

log = logging.getLogger("mediajobs.janitor")


async def prune_forever(store: JobStore, interval: float) -> None:
    while True:
        with contextlib.suppress(RedisError, OSError):
            removed = await store.prune_index()
            if removed:
                log.info("pruned %d expired job index entries", removed)
        await asyncio.sleep(interval)
