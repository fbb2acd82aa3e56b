"""Every Redis key, stream and channel name mediajobs uses, defined once.

All names share one prefix so a deployment can share a Redis server with other applications and an operator
can find (or flush) everything mediajobs wrote with one pattern.
"""

from __future__ import annotations

PREFIX = "mj"

JOB_INDEX = f"{PREFIX}:jobs:index"
"""Sorted set of task ids scored by creation time (epoch seconds); pruned as job records expire."""

SERVICES_PATTERN = f"{PREFIX}:service:*"
"""SCAN pattern matching every live service instance's heartbeat key."""


def job(task_id: str) -> str:
    """Hash holding one job's record."""
    return f"{PREFIX}:job:{task_id}"


def job_events(task_id: str) -> str:
    """Pub/sub channel on which every change of one job is announced."""
    return f"{PREFIX}:events:{task_id}"


def stream(queue: str) -> str:
    """Redis stream holding one queue's job messages."""
    return f"{PREFIX}:queue:{queue}"


def service(name: str, instance: str) -> str:
    """Heartbeat key of one running service instance (expires when the instance stops renewing it)."""
    return f"{PREFIX}:service:{name}:{instance}"
