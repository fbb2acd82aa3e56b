"""The Redis a benchmark runs against: `REDIS_URL`'s server if set, else a private redis-server."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from tools.localredis import LocalRedis

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@contextlib.contextmanager
def bench_redis(folder: Path, *, database: int | None = None) -> Iterator[str]:
    """The URL of the Redis to use (`database` of REDIS_URL's server, if given); a private server started
    in `folder` is stopped on exit."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url if database is None else url.rsplit("/", 1)[0] + f"/{database}"
        return
    server = LocalRedis(folder / "redis")
    try:
        yield server.start()
    finally:
        server.stop()
