"""A gateway alone (no workers) on a Redis database of its own, with the test keys: for tests of the API's
edges that need a real server process but nothing to run jobs."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.conftest import ApiKeys, private_cluster, wait_until_ready
from tools.localredis import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.cluster import Cluster
    from tests.support.otlp import OtlpReceiver
    from tools.procs import ServiceProcess


@dataclass
class LoneGateway:
    url: str
    keys: ApiKeys
    process: ServiceProcess
    cluster: Cluster
    folder: Path


@asynccontextmanager
async def lone_gateway(
    redis_url: str, db: int, otlp: OtlpReceiver, api_keys: ApiKeys, folder: Path
) -> AsyncIterator[LoneGateway]:
    """Started and answering; on the way out, its log must hold no traceback (no 500, no RecursionError)."""
    async with private_cluster(redis_url, db, folder / "media", otlp) as cluster:
        port = free_port()
        process = cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(folder)))
        url = f"http://127.0.0.1:{port}"
        try:
            await asyncio.to_thread(wait_until_ready, url, set(), api_keys.admin, 60.0)
        except RuntimeError:
            raise RuntimeError(cluster.logs()) from None
        yield LoneGateway(url, api_keys, process, cluster, folder)
        assert "Traceback" not in process.output(), process.output()[-4000:]
