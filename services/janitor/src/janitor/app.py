"""The janitor service: consumes the `default` queue (the `echo` canary) and keeps Redis and MEDIA_ROOT tidy.

Every replica runs echo jobs; only the one holding the leader lock runs the periodic duties
(`janitor.scheduler`), periodic jobs among them (`janitor.periodic`).
"""

from __future__ import annotations

from janitor.duties import Housekeeping
from janitor.echo import echo
from janitor.leader import LeaderLock
from janitor.scheduler import DutyScheduler, default_duties
from janitor.settings import JanitorSettings
from jobcommon import EchoRequest, JobService, Queue


def build(settings: JanitorSettings | None = None) -> JobService:
    settings = settings or JanitorSettings()
    service = JobService("janitor", Queue.DEFAULT, settings)
    service.handler(EchoRequest)(echo)
    lock = LeaderLock(service.redis, service.instance, settings.janitor_leader_ttl_s)
    housekeeping = Housekeeping(service.store, settings, own_consumer=service.runtime.worker)
    scheduler = DutyScheduler(housekeeping, lock, default_duties(settings))

    async def start_duties() -> None:
        await lock.start()
        scheduler.start()

    async def stop_duties() -> None:
        await scheduler.stop()
        await lock.stop()  # compare-and-delete: a successor takes over at once

    service.app.after_startup(start_duties)
    service.app.on_shutdown(stop_duties)
    return service
