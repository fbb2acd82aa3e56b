"""The janitor service: consumes the `default` queue (the `echo` canary) and keeps Redis tidy."""

from __future__ import annotations

import asyncio
import contextlib

from janitor.echo import echo
from janitor.pruning import prune_forever
from janitor.settings import JanitorSettings
from jobcommon import JobService, Queue


def build(settings: JanitorSettings | None = None) -> JobService:
    settings = settings or JanitorSettings()
    service = JobService("janitor", Queue.DEFAULT, settings)
    service.handler("echo")(echo)
    tasks: list[asyncio.Task[None]] = []

    async def start_duties() -> None:
        tasks.append(asyncio.create_task(prune_forever(service.store, settings.prune_interval_s)))

    async def stop_duties() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    service.app.after_startup(start_duties)
    service.app.on_shutdown(stop_duties)
    return service
