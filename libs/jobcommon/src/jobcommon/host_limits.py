"""Fetch rate limits per remote host, shared by every replica of every service that fetches (`RATE_LIMITS`).

`RATE_LIMITS="youtube.com=2/s; musicbrainz.org=1/s; *=10/s"`: a rule names a host and what it matches under
it (`youtube.com` also covers `www.youtube.com`; the longest matching rule wins), and a rate per second,
minute or hour (`/s`, `/min`, `/h`). A named rule is one limit for all the hosts it covers; `*` gives every
other host a limit of its own. Hosts no rule covers are not limited. Turns are spaced evenly (no bursts):
`1/s` means one turn a second; a fetch follows its turn within the time its yt-dlp process takes to send the
request (measured: 5 downloads at 1/s from two processes started 0.96–1.02 s apart).

A *turn* is one job starting its work with a host (a download, an info extraction) or one looked-up item of
a bulk job. Turns are handed out in Redis by `jobcommon.gcra` on Redis's clock, so ten replicas share one
limit. A job whose turn is more than `IN_PLACE_S` away does not hold its worker slot: it raises `Deferred`,
waits as `scheduled` (its progress message says for what and how long) and comes back shortly before the
turn booked for it, then waits the rest in place; the deferred run is not an attempt. One back more than an
interval after its turn (every slot was busy) takes a new turn, so late comers never start together.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jobcommon import keys
from jobcommon.errors import Deferred
from jobcommon.gcra import Gcra, Rate

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from jobcommon.context import JobContext

IN_PLACE_S = 1.0
"""A job waits for its turn in its worker slot when the turn is at most this far away."""
COME_BACK_EARLY_S = 0.5
"""A deferred job is queued again this long before its turn, then waits the rest in place (so promotion's
tick does not make it late, and two turns are never closer than the limit's spacing)."""
ANY_HOST = "*"

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_RULE = re.compile(r"^(?P<host>\*|(?:\*\.)?[a-z0-9\-.:\[\]]+)=(?P<count>\d+(?:\.\d+)?)/(?P<unit>[a-z]+)$")


@dataclass(frozen=True, slots=True)
class HostRule:
    host: str
    """A host name or address (also covering the names under it), or `*`."""
    per_s: float
    text: str
    """As written, e.g. `2/s` (for progress messages)."""

    @property
    def rate(self) -> Rate:
        return Rate(self.per_s)

    def covers(self, host: str) -> bool:
        return self.host in (ANY_HOST, host) or host.endswith("." + self.host)


def parse_host_rules(value: Any) -> Any:
    """`RATE_LIMITS` as rules (entries separated by `;`, `,` or spaces); a ValueError says what is wrong."""
    if not isinstance(value, str):
        return value
    rules: dict[str, HostRule] = {}
    for entry in re.split(r"[;,\s]+", value.strip().lower()):
        if not entry:
            continue
        match = _RULE.match(entry)
        if match is None or match["unit"] not in _UNITS:
            raise ValueError(
                f"RATE_LIMITS entry {entry!r} is not HOST=N/UNIT (e.g. 'youtube.com=2/s', '*=10/s'; "
                f"units: {', '.join(sorted(set(_UNITS)))})"
            )
        count = float(match["count"])
        if count <= 0:
            raise ValueError(f"RATE_LIMITS entry {entry!r}: the rate must be above 0")
        host = match["host"].removeprefix("*.").strip(".")
        if host in rules:
            raise ValueError(f"RATE_LIMITS names {host!r} twice")
        text = f"{match['count']}/{match['unit']}"
        rules[host] = HostRule(host, count / _UNITS[match["unit"]], text)
    return tuple(rules.values())


class HostLimits:
    """Turns at each remote host's rate limit (`RATE_LIMITS`), for the handlers of a service that fetches."""

    def __init__(self, redis: Redis, rules: Sequence[HostRule]) -> None:
        # most specific first: the longest host, `*` last
        self.rules = sorted(
            rules, key=lambda rule: -1 if rule.host == ANY_HOST else len(rule.host), reverse=True
        )
        self._gcra = Gcra(redis)

    def limit_for(self, url: str) -> tuple[str, HostRule] | None:
        """The limiter `url`'s host shares (its name: the rule's host, or the host itself under `*`) and
        its rule; None when no rule covers the host (or the URL names none)."""
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return None
        if not host:
            return None
        host = host.rstrip(".")
        for rule in self.rules:
            if rule.covers(host):
                return (host if rule.host == ANY_HOST else rule.host), rule
        return None

    async def take_turn(self, ctx: JobContext, url: str) -> None:
        """Return at the turn of `url`'s host for this job: at once, after waiting in place up to
        `IN_PLACE_S`, or raise `Deferred` to wait for it without a worker slot (the wait in the progress)."""
        await self._turn(ctx, url, hold_over=IN_PLACE_S)

    async def wait_turn(self, ctx: JobContext, url: str) -> None:
        """Return at the turn of `url`'s host, waiting in place however long (for an item of a bulk job,
        which cannot leave its slot half done)."""
        await self._turn(ctx, url, hold_over=math.inf)

    async def _turn(self, ctx: JobContext, url: str, *, hold_over: float) -> None:
        found = self.limit_for(url)
        if found is None:
            return
        name, rule = found
        wait = await self._gcra.turn(
            keys.host_rate(name),
            keys.host_turns(name),
            ctx.task_id,
            rule.rate,
            hold_over=min(hold_over, 1e12),  # Lua's tonumber reads no infinity
        )
        if wait > hold_over:
            message = f"waiting for a turn at {name} ({rule.text}): {wait:.1f} s"
            await ctx.progress(None, message)
            raise Deferred(message, delay=max(wait - COME_BACK_EARLY_S, 0.0))
        if wait > 0:
            await asyncio.sleep(wait)
