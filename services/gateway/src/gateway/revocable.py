"""An open event stream ends within a second of its key's revocation, as every new request is refused then.

A stream outlives the request that looked its key up: it may run for hours. Its key is looked at again every
`CHECK_EVERY_S`, whether or not events flow (the check is `KeyStore.still_valid`, cached per key for a second,
so a thousand streams of one key cost one lookup a second).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, TypeVar

from redis.exceptions import RedisError

from gateway.auth import AUTH_OFF
from jobcommon.cancellation import reraise_if_cancelling

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from gateway.api_keys import ApiKey, KeyStore

T = TypeVar("T")

CHECK_EVERY_S = 1.0


async def while_key_valid(
    events: AsyncIterator[T], keys: KeyStore, key: ApiKey, *, check_every_s: float = CHECK_EVERY_S
) -> AsyncIterator[T]:
    """`events`, until they end or `key` is revoked."""
    if key.id == AUTH_OFF.id:  # no keys to revoke
        async for event in events:
            yield event
        return
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            await asyncio.wait({pending}, timeout=check_every_s)
            if not await _still_valid(keys, key):
                return
            if not pending.done():
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                pending = None
                return
            pending = None
            yield event
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def _still_valid(keys: KeyStore, key: ApiKey) -> bool:
    """Whether `key` still stands; while Redis cannot say, it does (the stream itself rides out the outage,
    and no new request gets past its key's lookup meanwhile)."""
    try:
        return await keys.still_valid(key)
    except (RedisError, OSError) as exc:
        reraise_if_cancelling(exc)
        return True
