"""The change feed (`jobcommon.change_feed`) while Redis stops answering (SIGSTOP on a private redis-server):
a listener waits, and goes on with every change once Redis answers again, instead of ending with the
redis TimeoutError of its re-read of what it may have missed (which was `/jobs/stream`'s unhandled
exception and the end of its events)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import pytest

from jobcommon import CommonSettings
from jobcommon.client import JobClient
from jobcommon.requests.echo import EchoRequest
from tests.test_redis_outage import frozen, private_redis

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from jobcommon.change_feed import Change
    from tools.localredis import LocalRedis

__all__ = ["private_redis"]  # the fixture, used by name

REQUEST_TIMEOUT_S = 0.5
"""The client's bound on one Redis command: a frozen Redis fails the feed's reads this soon."""
READ_FAILED = "change feed: read failed"
WAIT_S = 60.0
"""Generous bound on anything awaited (a busy 2-core machine)."""


async def until(check: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {WAIT_S} s"
        await asyncio.sleep(0.05)


async def test_a_listener_rides_out_a_frozen_redis_and_goes_on_after_it(
    private_redis: LocalRedis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = CommonSettings(
        redis_url=private_redis.url, media_root=tmp_path / "media", redis_request_timeout_s=REQUEST_TIMEOUT_S
    )
    caplog.set_level(logging.WARNING, logger="mediajobs.events")
    async with JobClient(settings) as client:
        seen: list[Change] = []
        failure: list[BaseException] = []

        async def follow(changes: AsyncIterator[Change]) -> None:
            try:
                async for change in changes:
                    seen.append(change)
            except Exception as exc:  # what the old feed did: ended with the re-read's TimeoutError
                failure.append(exc)

        listener = asyncio.create_task(follow(client.changes.listen()))
        try:
            before = (await client.submit(EchoRequest(payload={"n": 1}))).job.task_id
            await until(lambda: any(c.event.job.task_id == before for c in seen), "the first change")

            with frozen(private_redis):
                # the reader's read fails and tells the listener of a gap; the listener's re-read fails too
                await until(lambda: "re-reading missed" in caplog.text or failure, "a failed re-read")
                # and again: the listener is still there, Redis still frozen
                fails = caplog.text.count("change feed: read failed")
                await until(
                    lambda: caplog.text.count("change feed: read failed") > fails or failure, "a retry"
                )
            assert not failure, f"the listener ended while Redis was frozen: {failure[0]!r}"

            after = (await client.submit(EchoRequest(payload={"n": 2}))).job.task_id
            await until(lambda: any(c.event.job.task_id == after for c in seen) or failure, "the next change")
            assert not failure, f"the listener ended: {failure[0]!r}"
            ids = [c.id for c in seen]
            assert len(ids) == len(set(ids)), f"a change was delivered twice: {ids}"
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
