"""Health of one worker container: `python -m jobcommon.health <service>` exits 0 only when it is healthy.

Meant for a container's HEALTHCHECK or a Kubernetes exec probe. It runs as a process of its own beside the
service, so it cannot ask the service in memory; it asks Redis what the service proves there instead:

- a presence record (`mj:service:<service>:<hostname>-<nonce>-<pid>`) of a process of this service on this
  host (the container's hostname), whose stream consumer
- still proves it lives (`mj:alive:<consumer>`, renewed from a thread every LIVENESS_INTERVAL_S), and
- the consumer group the service reads from exists on its stream (`jobcommon.queues`).

Exit codes: 0 healthy, 1 unhealthy (the reason is printed), 2 usage (an unknown service).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis import Redis
from redis.exceptions import RedisError, ResponseError

from jobcommon import keys
from jobcommon.queues import QUEUES, QueueSpec
from jobcommon.settings import CommonSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

HEALTHY, UNHEALTHY, USAGE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Verdict:
    healthy: bool
    reason: str


def queue_of(service: str) -> QueueSpec | None:
    """The queue a service consumes: the one whose consumer group is named after it (built-in queues first,
    then those of job types loaded from plugins)."""
    for spec in QUEUES.values():
        if spec.group == service:
            return spec
    from jobcommon.job_types import JOB_TYPES  # only for plugins' queues: loads every job-type module

    return next((spec for spec in JOB_TYPES.queues() if spec.group == service), None)


def _glob_escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in "*?[]\\" else ch for ch in text)


def _consumers_on_host(redis: Redis, service: str, host: str) -> list[str]:
    """Stream consumer names of this service's processes on `host`, from their unexpired presence records."""
    pattern = keys.service(_glob_escape(service), f"{_glob_escape(host)}-*")
    consumers: list[str] = []
    for key in redis.scan_iter(match=pattern, count=500):
        raw = redis.get(key)
        if raw:
            consumer = json.loads(raw).get("consumer")
            if isinstance(consumer, str):
                consumers.append(consumer)
    return consumers


def _group_exists(redis: Redis, spec: QueueSpec) -> bool:
    try:
        groups = redis.xinfo_groups(spec.stream)
    except ResponseError:  # no such stream
        return False
    return any(group.get("name") == spec.group for group in groups)


def check(redis: Redis, service: str, spec: QueueSpec, host: str) -> Verdict:
    consumers = _consumers_on_host(redis, service, host)
    if not consumers:
        return Verdict(False, f"no fresh presence record of {service} on {host}")
    alive = [consumer for consumer in consumers if redis.exists(keys.alive(consumer))]
    if not alive:
        return Verdict(False, f"{service} on {host} no longer proves it lives ({', '.join(consumers)})")
    if not _group_exists(redis, spec):
        return Verdict(False, f"consumer group {spec.group!r} is missing on {spec.stream}")
    return Verdict(True, f"{', '.join(alive)} alive; group {spec.group!r} on {spec.stream}")


def probe(service: str, host: str, settings: CommonSettings) -> Verdict:
    spec = queue_of(service)
    if spec is None:
        raise LookupError(service)
    timeout = settings.redis_connect_timeout_s
    redis = Redis.from_url(
        settings.redis_url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        return check(redis, service, spec, host)
    except (RedisError, OSError) as exc:
        return Verdict(False, f"Redis unreachable: {type(exc).__name__}")
    finally:
        redis.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobcommon.health", description=__doc__.splitlines()[0])
    parser.add_argument("service", help="the service's name (its consumer group), e.g. downloader")
    parser.add_argument("--host", default=socket.gethostname(), help="host name (default: this one's)")
    args = parser.parse_args(argv)
    try:
        verdict = probe(args.service, args.host, CommonSettings())
    except LookupError:
        print(f"unknown service {args.service!r}: no queue is consumed by such a group", file=sys.stderr)
        return USAGE
    print(("healthy: " if verdict.healthy else "unhealthy: ") + verdict.reason)
    return HEALTHY if verdict.healthy else UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
