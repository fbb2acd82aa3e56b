"""Job priorities: each queue is three streams (lanes), and a worker's free slot takes from them by weight.

A job's `priority` (`high`, `normal`, `low`; by default its job type's) picks the lane its message goes to:
the queue's stream for `normal` (the name every queue always had), `<stream>:high` and `<stream>:low` for the
others. One consumer group (the queue's service) reads all three.

Each read of a worker goes to the lanes in an order drawn by smooth weighted round robin (the scheme nginx
balances upstreams with) over `WEIGHTS`: while all three lanes hold work, out of every 10 reads 6 take from
`high` first, 3 from `normal` and 1 from `low`; a lane with nothing waiting passes its turn to the next in
that read's order. So a higher lane is served first most of the time yet a lower one is never starved: `low`
work still gets one read in ten however much `high` work arrives. A read takes as many messages as the
worker has free slots, all from the first lane that has any (no hoarding: see `jobcommon.steady_reads`).

A playlist's entries run one step below the playlist (`high` -> `normal`, `normal` -> `low`): a single
download a user asks for overtakes the 500 entries of a playlist submitted before it at the same priority.
"""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    """How soon a job's queue serves it, relative to the queue's other jobs (see the module doc)."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


WEIGHTS: dict[Priority, int] = {Priority.HIGH: 6, Priority.NORMAL: 3, Priority.LOW: 1}
"""Reads out of every sum(WEIGHTS) that try a lane first while every lane has work."""

LANE_SEPARATOR = ":"
"""Joins a queue's stream name and a lane's priority (`mj:queue:metadata:high`); `normal` has no suffix.
`lua/promote.lua` builds the same names."""


def lane_suffix(priority: Priority) -> str:
    """What a lane adds to its queue's stream (and in-flight hash) name."""
    return "" if priority == Priority.NORMAL else LANE_SEPARATOR + priority.value


def lowered(priority: Priority) -> Priority:
    """The priority of the entries of a job at `priority` (a playlist's downloads): one step lower."""
    return Priority.NORMAL if priority == Priority.HIGH else Priority.LOW


class LaneOrder:
    """Smooth weighted round robin over the lanes: `next()` is the order one read tries them in.

    Each call adds every lane's weight to its credit, puts the lane with the most credit first (ties by
    weight) and takes the total weight off its credit; the other lanes follow by weight. Deterministic: with
    6/3/1 the first lanes of ten calls are high, normal, high, high, normal, high, low, high, normal, high.
    """

    def __init__(self, weights: dict[Priority, int] | None = None) -> None:
        self._weights = dict(weights or WEIGHTS)
        self._total = sum(self._weights.values())
        self._credit = dict.fromkeys(self._weights, 0)
        self._by_weight = sorted(self._weights, key=lambda p: -self._weights[p])

    def next(self) -> list[Priority]:
        for lane, weight in self._weights.items():
            self._credit[lane] += weight
        first = max(self._by_weight, key=lambda p: self._credit[p])
        self._credit[first] -= self._total
        return [first, *(lane for lane in self._by_weight if lane is not first)]
