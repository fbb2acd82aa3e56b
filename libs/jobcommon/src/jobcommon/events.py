"""Live job events: every transition is published on the job's channel; listeners follow it here."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from jobcommon import keys
from jobcommon.models import Job, JobEvent

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from jobcommon.store import JobStore


def parse_event(data: str | bytes) -> JobEvent:
    raw = json.loads(data)
    return JobEvent(kind=raw["kind"], job=Job.from_hash(raw["job"]))


async def follow(store: JobStore, task_id: str, *, idle_check_s: float = 5.0) -> AsyncIterator[JobEvent]:
    """Yield the job's current state, then each change, ending after the terminal state.

    Subscribes before reading the current state, so no change between the two is missed. If no event arrives
    for `idle_check_s` the record is re-read, so a missed message (e.g. across a reconnect) cannot hang a
    listener.

    Raises JobNotFound if the job does not exist.
    """
    pubsub = store.redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.job_events(task_id))
    try:
        last = await store.get(task_id)
        yield JobEvent(kind="status", job=last)
        while not last.status.terminal:
            message = await pubsub.get_message(timeout=idle_check_s)
            if message is None:
                current = await store.get(task_id)
                if current != last:
                    last = current
                    yield JobEvent(kind="status", job=current)
                continue
            event = parse_event(message["data"])
            last = event.job
            yield event
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
