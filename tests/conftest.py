"""Shared fixtures: a real Redis, the services as real processes, a local media server, an OTLP receiver."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from redis.asyncio import Redis

from jobcommon import CommonSettings
from jobcommon.broker import ensure_groups
from tests.support.httpserver import MediaServer
from tests.support.media import make_mp4
from tests.support.otlp import OtlpReceiver
from tools.localredis import LocalRedis, free_port
from tools.procs import SERVICES, ServiceProcess

if TYPE_CHECKING:
    from tests.cluster import Cluster

os.environ.setdefault("MEDIAJOBS_TEST_HOOKS", "true")  # echo's failure/blocking hooks, for this process and
# every service process the tests start (they inherit the environment)


def pytest_configure(config: pytest.Config) -> None:
    """The suite runs in parallel processes (pytest-xdist, `task test`), each with its own Redis server; a
    `REDIS_URL` is one server shared by all of them while tests use fixed database numbers on it."""
    workers = getattr(config.option, "numprocesses", None)
    if os.environ.get("REDIS_URL") and isinstance(workers, int) and workers > 1:
        raise pytest.UsageError(
            "REDIS_URL is one Redis server for every test process, and the tests use fixed databases on it: "
            "run them in one process (uv run task test -- -n 0)"
        )


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (what `task test` passes): two processes, or one where a `REDIS_URL` is shared by all of them
    (fixed database numbers) or the machine has one core."""
    if os.environ.get("REDIS_URL"):
        return 1
    return min(2, os.cpu_count() or 1)


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL if set; else a testcontainers Redis if Docker answers; else a local redis-server."""
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    if _docker_answers():
        from testcontainers.redis import RedisContainer

        with RedisContainer() as container:
            host = container.get_container_host_ip()
            yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
        return
    server = LocalRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def unrun_db_url(redis_url: str) -> str:
    """A Redis database that no service reads: jobs written there are never run."""
    return redis_url.rsplit("/", 1)[0] + "/5"


@pytest.fixture
async def unrun_redis(unrun_db_url: str) -> AsyncIterator[Redis]:
    """A client on the unrun database, emptied before and after, with every queue's group in place."""
    client = Redis.from_url(unrun_db_url, decode_responses=True)
    await client.flushdb()
    await ensure_groups(client)
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media_root")


@pytest.fixture
def settings(redis_url: str, media_root: Path) -> CommonSettings:
    return CommonSettings(redis_url=redis_url, media_root=media_root, progress_interval_s=0.1)


@pytest.fixture(scope="session")
def media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    """Serves clip.mp4 (3 s, small) and big.mp4 (~4 MB of noise) with Range, throttling and stalls."""
    root = tmp_path_factory.mktemp("served")
    make_mp4(root / "clip.mp4", seconds=3.0)
    make_mp4(root / "big.mp4", seconds=8.0, width=640, height=480, noise=True)
    (root / "page.html").write_text(
        "<html><head><title>A page</title></head><body>"
        '<video src="{BASE}/clip.mp4" type="video/mp4"></video></body></html>'
    )
    (root / "feed.rss").write_text(rss_feed("{BASE}/clip.mp4", "{BASE}/slow/big.mp4", "{BASE}/missing.mp4"))
    (root / "slowfeed.rss").write_text(rss_feed(*[f"{{BASE}}/veryslow/big.mp4?n={i}" for i in range(4)]))
    (root / "multi.html").write_text(
        "<html><head><title>Two clips</title></head><body>"
        '<video src="{BASE}/clip.mp4"></video><video src="{BASE}/slow/big.mp4"></video></body></html>'
    )
    with MediaServer(root) as server:
        yield server


def rss_feed(*urls: str) -> str:
    items = "".join(
        f"<item><title>Entry {i}</title><guid>entry-{i}</guid>"
        f'<enclosure url="{url}" type="video/mp4" length="1"/></item>'
        for i, url in enumerate(urls)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>A feed</title>'
        f"<link>{{BASE}}/</link><description>test feed</description>{items}</channel></rss>"
    )


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@dataclass
class Stack:
    """The running system: gateway + services as separate processes sharing one Redis and MEDIA_ROOT."""

    api_url: str
    redis_url: str
    media_root: Path
    procs: dict[str, ServiceProcess]
    env: dict[str, str]

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{proc.output()}" for name, proc in self.procs.items())


def service_env(redis_url: str, media_root: Path, otlp: OtlpReceiver, **extra: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(media_root),
        "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "HEARTBEAT_INTERVAL_S": "1",
        "LOG_LEVEL": "INFO",
        "METRICS_PORT": "0",  # no fixed ports shared between runs: a test that scrapes picks a free one
        **extra,
    }


@dataclass(frozen=True)
class ApiKeys:
    """The test deployment's API keys (provisioned through API_KEYS_FILE), by what they may do."""

    admin: str
    alice_submit: str
    alice_read: str
    bob_submit: str

    def file(self, folder: Path) -> Path:
        entries = [
            {"name": "tests admin", "owner": "tests", "role": "admin", "key": self.admin},
            {"name": "alice", "owner": "alice", "role": "submit", "key": self.alice_submit},
            {"name": "alice read-only", "owner": "alice", "role": "read", "key": self.alice_read},
            {"name": "bob", "owner": "bob", "role": "submit", "key": self.bob_submit},
        ]
        path = folder / "api-keys.json"
        path.write_text(json.dumps(entries))
        path.chmod(0o600)
        return path


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def api_keys() -> ApiKeys:
    return ApiKeys(*(f"mj_test_{secrets.token_urlsafe(24)}" for _ in range(4)))


def wait_until_ready(api_url: str, services: set[str], admin_key: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{api_url}/jobs/health", timeout=2, headers=bearer(admin_key)).json()
            seen = {s["service"] for s in health.get("services", [])}
            if services <= seen:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"services not ready after {timeout} s; live: {sorted(seen)}")


@pytest.fixture(scope="session")
def stack(
    redis_url: str,
    media_root: Path,
    otlp: OtlpReceiver,
    api_keys: ApiKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    port = free_port()
    keys_file = api_keys.file(tmp_path_factory.mktemp("keys"))
    env = service_env(redis_url, media_root, otlp, GATEWAY_PORT=str(port), API_KEYS_FILE=str(keys_file))
    procs = {name: ServiceProcess(name, env) for name in SERVICES}
    for proc in procs.values():
        proc.start()
    running = Stack(f"http://127.0.0.1:{port}", redis_url, media_root, procs, env)
    try:
        wait_until_ready(running.api_url, set(SERVICES) - {"gateway"}, api_keys.admin)
    except RuntimeError:
        for proc in procs.values():
            proc.stop()
        raise RuntimeError(running.logs()) from None
    yield running
    for proc in procs.values():
        proc.stop()


@contextlib.asynccontextmanager
async def private_cluster(
    redis_url: str, db: int, media_root: Path, otlp: OtlpReceiver
) -> AsyncIterator[Cluster]:
    """A private deployment on its own Redis database (flushed before and after), for tests that kill."""
    from tests.cluster import Cluster

    url = redis_url.rsplit("/", 1)[0] + f"/{db}"
    client = Redis.from_url(url)
    await client.flushdb()
    running = Cluster(url, media_root, otlp)
    try:
        yield running
    finally:
        running.stop_all()
        await client.flushdb()
        await client.aclose()


@pytest.fixture
async def cluster(redis_url: str, tmp_path: Path, otlp: OtlpReceiver) -> AsyncIterator[Cluster]:
    async with private_cluster(redis_url, 11, tmp_path / "media", otlp) as running:
        yield running


@pytest.fixture
async def api(stack: Stack, api_keys: ApiKeys) -> AsyncIterator[httpx.AsyncClient]:
    """The API as an admin client (sees every owner's jobs, health details, dead letters)."""
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=30, headers=bearer(api_keys.admin)
    ) as client:
        yield client
