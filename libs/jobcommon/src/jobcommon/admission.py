"""What a submission must pass before its job is made: a per-owner quota of live jobs and a per-caller rate
(GCRA, `jobcommon.gcra`). Both are checked by the very step that would create the job (`lua/create.lua`), so
an admitted submission costs no extra round trip, the count and the create cannot race, and a refused one
writes nothing (RateLimited, with the seconds to wait)."""

from __future__ import annotations

from dataclasses import dataclass

from jobcommon.gcra import Rate


@dataclass(frozen=True, slots=True)
class Admission:
    max_active: int = 0
    """The most unfinished jobs (scheduled, queued, retrying, running) its owner may have; 0: no limit."""
    rate_key: str = ""
    """Where the caller's submission rate is kept (`keys.submit_rate`); '' for no rate limit."""
    rate: Rate | None = None
    """The caller's submission rate (with `rate_key`)."""

    def rate_args(self) -> tuple[float | str, int | str]:
        """The create script's rate arguments: (interval s, burst), or ('', '') for no rate limit."""
        if self.rate is None or not self.rate_key:
            return "", ""
        return self.rate.interval_s, self.rate.burst
