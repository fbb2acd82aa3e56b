"""`JobService`: a FastStream app consuming one queue, with the job middleware, presence and tracing wired in.

A service module only declares its handlers::

    service = JobService("janitor", Queue.DEFAULT, settings)

    @service.handler("echo")
    async def echo(request: EchoRequest, ctx: JobCtx) -> EchoResult: ...

    asyncio.run(service.run())
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import os
import secrets
import signal
import socket
from typing import TYPE_CHECKING, Any

from faststream import FastStream
from faststream.redis import RedisRouter, StreamSub
from pydantic import Field

from jobcommon.broker import QuietShutdown, access_log, ensure_groups, make_broker
from jobcommon.cancellation import cancel_and_wait, reraise_if_cancelling
from jobcommon.connection import connect
from jobcommon.errors import ConfigurationError
from jobcommon.job_types import JOB_TYPES
from jobcommon.liveness import LivenessBeacon
from jobcommon.metrics import serve_metrics
from jobcommon.middleware import JobRuntime
from jobcommon.presence import Heartbeat
from jobcommon.queues import QUEUES, Queue, QueueSpec
from jobcommon.settings import CommonSettings
from jobcommon.steady_reads import keep_reading
from jobcommon.store import JobStore
from jobcommon.tracing import shutdown_tracing
from jobcommon.upkeep import Upkeep
from jobcommon.worker_slots import WorkerSlots

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from faststream.message import StreamMessage
    from redis.asyncio import Redis

    from jobcommon.requests.base import JobRequestBase
from redis.exceptions import RedisError

log = logging.getLogger("mediajobs.service")

EXIT_SUBSCRIBER_LOST = 70
"""Exit status when FastStream stopped our subscriber for good (EX_SOFTWARE)."""
EXIT_RUNAWAY = 75
"""Exit status after a job outlived its hard time limit (EX_TEMPFAIL: restart me)."""


class WorkerSettings(CommonSettings):
    """Settings of a worker service. `CONCURRENCY` jobs run at once; no more messages than that are taken."""

    concurrency: int = Field(default=4, ge=1, le=1000)
    graceful_timeout_s: float = Field(default=10.0, ge=0)
    metrics_host: str = Field(default="127.0.0.1", description="Address the metrics endpoint binds to.")
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Port of the Prometheus endpoint (/metrics); 0: off."
    )


def _job_type_is(job_type: str) -> Callable[[StreamMessage[Any]], Awaitable[bool]]:
    async def matches(message: StreamMessage[Any]) -> bool:
        return message.headers.get("x-job-type") == job_type

    return matches


class JobService:
    def __init__(self, name: str, queue: Queue | QueueSpec, settings: WorkerSettings) -> None:
        self.name = name
        self.settings = settings
        self.spec = queue if isinstance(queue, QueueSpec) else QUEUES[queue]
        self.instance = process_instance()
        self.redis: Redis = connect(settings)
        self.store = JobStore(self.redis, settings)
        self.runtime = JobRuntime(
            self.store,
            settings,
            self.spec,
            worker=f"{name}-{self.instance}",
            slots=WorkerSlots(settings.concurrency),
            on_runaway=self._restart,
        )
        self.upkeep = Upkeep(self.store, [self.spec], settings, own_consumer=self.runtime.worker)
        self._tasks: list[asyncio.Task[None]] = []
        self._runaway = False
        self._subscriber_died = False
        self.broker = make_broker(
            settings,
            name,
            middlewares=[self.runtime.middleware],
            graceful_timeout=settings.graceful_timeout_s,
        )
        self._quiet_shutdown = QuietShutdown()
        access_log.addFilter(self._quiet_shutdown)
        self.router = RedisRouter()
        self.subscriber = self.router.subscriber(
            stream=StreamSub(
                self.spec.stream,
                group=self.spec.group,
                consumer=self.runtime.worker,
                max_records=1,  # never prefetch a backlog: `keep_reading` reads only as many as free slots
            ),
            max_workers=settings.concurrency,
        )
        keep_reading(self.subscriber, self.redis, self.spec, self.runtime.slots)
        self.heartbeat = Heartbeat(
            self.redis, name, self.instance, settings.heartbeat_interval_s, describe=self._describe
        )
        self.liveness = LivenessBeacon(
            settings.redis_url,
            self.runtime.worker,
            interval_s=settings.liveness_interval_s,
            ttl_s=settings.liveness_ttl_s,
        )
        self.app = FastStream(
            self.broker,
            logger=logging.getLogger("mediajobs.app"),
            on_startup=[self._on_startup],
            after_startup=[self.heartbeat.start, self._start_upkeep],
            on_shutdown=[self._stop_upkeep],
            after_shutdown=[
                self._release_own,
                self._stop_liveness,
                self.heartbeat.stop,
                self._after_shutdown,
            ],
        )

    def handler(self, request: type[JobRequestBase] | str) -> Callable[[Callable[..., Any]], Any]:
        """Register a plain typed `async def` as the handler of one job type (given by its request model) on
        this service's queue. Raises ConfigurationError if the job type is routed to another queue."""
        declared = JOB_TYPES.get(
            request if isinstance(request, str) else request.model_fields["job_type"].default
        )
        if declared.queue.queue != self.spec.queue:
            raise ConfigurationError(
                f"job type {declared.name!r} goes to queue {declared.queue.queue!r}, "
                f"not to {self.spec.queue!r} which the {self.name} service consumes"
            )

        def register(func: Callable[..., Any]) -> Any:
            return self.subscriber(filter=_job_type_is(declared.name))(func)

        return register

    def _describe(self) -> dict[str, Any]:
        return {
            "consumer": self.runtime.worker,
            "queue": self.spec.queue,
            "concurrency": self.settings.concurrency,
            "running": sorted(self.runtime.running),
        }

    async def _on_startup(self) -> None:
        self.broker.include_router(self.router)
        await ensure_groups(self.redis, [self.spec])
        await asyncio.to_thread(self.liveness.start)  # alive before the first read: never taken for dead
        await asyncio.to_thread(serve_metrics, self.settings.metrics_host, self.settings.metrics_port)
        # What start-up made (modules, models, the app) lives as long as the process: out of the collector's
        # sight, a full collection no longer walks it all (a 30-100+ ms pause of every job's event loop once
        # the young objects of the first seconds of work trigger one).
        gc.freeze()

    async def _stop_liveness(self) -> None:
        await asyncio.to_thread(self.liveness.stop)

    async def _start_upkeep(self) -> None:
        self._tasks.append(asyncio.create_task(self.upkeep.run_forever()))

    async def _stop_upkeep(self) -> None:
        self._quiet_shutdown.stopping = True
        # A subscriber already stopped before shutdown means FastStream gave up on it (e.g. its consumer group
        # vanished when Redis restarted without data): exit non-zero so any restart policy restarts us, and
        # the restarted service re-creates the group.
        self._subscriber_died = not getattr(self.subscriber, "running", True)
        await asyncio.gather(*(cancel_and_wait(task) for task in self._tasks))

    async def _release_own(self) -> None:
        """After the broker stopped: hand back every delivery this worker still holds (e.g. one read but not
        started), so another worker takes it at once instead of after a lease; then leave the group."""
        spec, consumer = self.spec, self.runtime.worker
        for priority, stream in spec.lanes.items():  # each lane on its own: one failing skips no other
            try:
                pending = await self.redis.xpending_range(
                    stream, spec.group, "-", "+", 10_000, consumername=consumer
                )
                ids = [str(p["message_id"]) for p in pending]
                released = await self.store.release(spec.queue, spec.group, ids, priority)
                if ids:
                    log.info("released %d deliveries back to %s", released.requeued, stream)
                await self.redis.xgroup_delconsumer(stream, spec.group, consumer)
            except (RedisError, OSError) as exc:
                reraise_if_cancelling(exc)
                log.warning(
                    "could not release deliveries of %s on shutdown (%s); they are reclaimed after the lease",
                    stream,
                    exc,
                )

    def _restart(self) -> None:
        """A run outlived its hard time limit: stop gracefully, then exit at once (the runaway work dies with
        the process) with EXIT_RUNAWAY, so the supervisor (compose, `task dev`) starts a clean process."""
        log.error("a job ignored its time limits; restarting the service to kill it")
        self._runaway = True
        os.kill(os.getpid(), signal.SIGTERM)

    async def _after_shutdown(self) -> None:
        await self.redis.aclose()
        shutdown_tracing()

    async def run(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks)
        # SIGUSR2: every thread's Python stack on stderr, also once the event loop is gone (a stuck exit)
        faulthandler.register(signal.SIGUSR2, all_threads=True)
        await self.app.run()
        if self._runaway:
            logging.shutdown()
            os._exit(EXIT_RUNAWAY)  # do not wait for the runaway thread the way interpreter exit would
        if self._subscriber_died:
            log.error(
                "the %s subscriber stopped unexpectedly; exiting so the service is restarted", self.spec.queue
            )
            raise SystemExit(EXIT_SUBSCRIBER_LOST)

    def serve(self) -> None:
        """Run the service until SIGINT/SIGTERM, on uvloop where available."""
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency on every platform we deploy
            asyncio.run(self.run())
        else:
            uvloop.run(self.run())


def process_instance() -> str:
    """This process's name among the replicas, `<host>-<nonce>-<pid>` (its consumer: `<service>-<that>`).

    The nonce is new at every start: a container restarted in place has the same host name and, often, the
    same pid, and its predecessor's deliveries must not pass for its own (whose liveness key it keeps alive,
    so that they would come back only after a whole lease)."""
    return f"{socket.gethostname()}-{secrets.token_hex(3)}-{os.getpid()}"


def _dump_tasks() -> None:
    """SIGUSR1: log where every asyncio task of this process is waiting (for diagnosing a stuck worker)."""
    for task in asyncio.all_tasks():
        frames = []
        awaited: Any = task.get_coro()
        while awaited is not None and hasattr(awaited, "cr_frame") and awaited.cr_frame is not None:
            frames.append(f"{awaited.cr_code.co_name}:{awaited.cr_frame.f_lineno}")
            awaited = awaited.cr_await
        if awaited is not None:
            frames.append(type(awaited).__name__)
        log.warning("task %s: %s", task.get_name(), " -> ".join(frames) or "(done or not started)")
