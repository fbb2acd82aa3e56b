"""The total bandwidth limit (``DOWNLOAD_TOTAL_RATE_LIMIT``), divided among the running downloads.

How it is divided: every download running in this service process gets an equal share,
``total // running``, re-computed whenever a download starts or ends and pushed to each running child
over its stdin (`ChildControl`). The child paces the bytes it receives with a token bucket in yt-dlp's
progress hook (`downloader.throttle.Throttle`, called every 64 KiB block), so a new share applies
from the next block on, without a pause or a catch-up burst. The per-download limit
(``DOWNLOAD_RATE_LIMIT``, yt-dlp's own ``ratelimit``) applies on top. A download slower than its share
(a slow server) does not hand its unused share to the others: the total is an upper bound, not a
target. Each service process divides its own total; with several downloader processes on one link,
give each its part.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

from downloader.child_runner import ChildControl
from jobcommon import provided

__all__ = ["Bandwidth", "BandwidthPool"]


class BandwidthPool:
    """Equal shares of ``total`` bytes/s for the members (None: unlimited). One event loop only."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self._members: list[ChildControl] = []

    @property
    def running(self) -> int:
        return len(self._members)

    def share(self) -> int | None:
        if not self.total or not self._members:
            return None
        return max(1, self.total // len(self._members))

    def _rebalance(self) -> None:
        share = self.share()
        for control in self._members:
            control.set_share_limit(share)

    @contextlib.contextmanager
    def member(self) -> Iterator[ChildControl]:
        """A control channel whose share follows the number of members while the block runs."""
        control = ChildControl()
        self._members.append(control)
        self._rebalance()
        try:
            yield control
        finally:
            self._members.remove(control)
            self._rebalance()


Bandwidth = Annotated[BandwidthPool, provided("bandwidth")]
"""Handler parameter: the service process's pool (`downloader.app.build` creates it)."""
