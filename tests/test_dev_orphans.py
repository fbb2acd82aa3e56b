"""A `task dev` that is killed (`kill -9`) takes everything it started with it, and a start that finds what an
older (or macOS) one left running names it.

Each test runs `python -m tools.dev` in a checkout of its own: a copy of tools/ under tmp_path, so its
var/ (redis data and lock, media, dev key) is the test's and not this checkout's. Linux only (/proc).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.conftest import wait_until_ready
from tests.support.httpserver import MediaServer
from tools.localredis import free_port
from tools.procs import ServiceProcess

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals: Linux")

ROOT = Path(__file__).resolve().parent.parent
WORKERS = {"downloader", "metadata", "imaging", "janitor"}
GONE_WITHIN_S = 10.0
"""A generous bound for a busy 2-core machine; measured: under 1 s (the imaging pool's orphan check)."""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout of tools/ alone: the services are installed packages, started from its directory."""
    shutil.copytree(ROOT / "tools", tmp_path / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@dataclass(frozen=True)
class Proc:
    pid: int
    started: int
    """Its start time (clock ticks since boot): a pid used again is another process."""
    command: str


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(root_pid: int) -> list[Proc]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[Proc] = []
    todo = [root_pid]
    while todo:
        for pid in children.get(todo.pop(), []):
            todo.append(pid)
            fields = _stat(pid)
            with contextlib.suppress(OSError):
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                command = raw.replace(b"\0", b" ").decode(errors="replace").strip()
                if fields is not None:
                    found.append(Proc(pid, int(fields[19]), command))
    return found


def running(proc: Proc) -> bool:
    fields = _stat(proc.pid)
    return fields is not None and fields[0] != "Z" and int(fields[19]) == proc.started


def end(procs: list[Proc]) -> None:
    """Cleanup: SIGKILL those of `procs` still running (each by its pid, checked by its start time)."""
    for proc in procs:
        if running(proc):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)


class Dev:
    """`python -m tools.dev` in `checkout`, its output in a file (`output()`)."""

    def __init__(self, checkout: Path, port: int, name: str, *, code: str | None = None, **env: str) -> None:
        self.port = port
        self.log_path = checkout / f"{name}.log"
        environment = {
            **os.environ,
            "GATEWAY_PORT": str(port),
            "AUTH": "off",
            "METRICS_PORT": "0",
            "HEARTBEAT_INTERVAL_S": "1",
            "GRACEFUL_TIMEOUT_S": "2",
            "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": "true",
            "OTEL_SDK_DISABLED": "true",
            **env,
        }
        environment.pop("REDIS_URL", None)  # its own redis-server, in checkout/var/redis
        command = ["-c", code] if code else ["-m", "tools.dev"]
        self.log: IO[str] = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, *command],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=checkout,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self) -> None:
        try:
            wait_until_ready(self.url, WORKERS, "any key: AUTH=off", timeout=120)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{self.output()[-4000:]}") from None

    def close(self) -> None:
        """Kill it if it runs, and whatever it started that still runs."""
        if self.process.poll() is None:
            started = descendants(self.process.pid)
            self.process.kill()
            end(started)
        self.process.wait()
        self.log.close()


def run_dev(checkout: Path, port: int) -> subprocess.CompletedProcess[str]:
    """A `task dev` that is expected to refuse to start (or one that would, stopped after 60 s)."""
    env = {**os.environ, "GATEWAY_PORT": str(port), "AUTH": "off", "METRICS_PORT": "0"}
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "tools.dev"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=checkout,
    )


def wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.1)


def _parent(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def role(proc: Proc) -> str:
    """`gateway`, `downloader.forkserver`, `redis-server`, ... (the module it runs, or the program)."""
    parts = proc.command.split()
    if "-m" in parts[:-1]:
        return parts[parts.index("-m") + 1]
    if "spawn_main" in proc.command:
        return "imaging pool"
    return Path(parts[0]).name if parts else "?"


SERVICES_AND_REDIS = {"gateway", *WORKERS, "redis-server"}


def test_a_killed_task_dev_takes_everything_it_started_with_it(
    checkout: Path, media_server: MediaServer
) -> None:
    """`kill -9` of `task dev` left the gateway, the workers (with the fork server and the imaging pool) and
    redis-server running, each in its own session, parent 1, still consuming; the next `task dev` then found
    the port taken ("another `task dev`?") though none ran. Now all of them, and a download's yt-dlp child,
    end within a second or so; a new `task dev` starts cleanly, on the same data (the job is still there)."""
    port = free_port()
    dev = Dev(checkout, port, "first")
    procs: list[Proc] = []
    try:
        dev.wait_ready()
        second = run_dev(checkout, port)  # while it runs: the refusal names it
        assert second.returncode == 1
        assert f"another `task dev` runs here (pid {dev.process.pid})" in second.stderr, second.stderr

        response = httpx.post(
            f"{dev.url}/jobs/submit",
            json={"job_type": "video_download", "url": media_server.url("stall/big.mp4")},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        task_id = response.json()["task_id"]
        wait_for(lambda: media_server.requests_for("/stall/big.mp4"), "the download started")

        def everything_runs() -> bool:
            found = descendants(dev.process.pid)
            servers = {p.pid for p in found if role(p) == "downloader.forkserver"}
            downloading = any(_parent(p.pid) in servers for p in found)  # the yt-dlp child
            return downloading and SERVICES_AND_REDIS | {"imaging pool"} <= {role(p) for p in found}

        wait_for(everything_runs, "the stack with a download running", timeout=60)
        procs = descendants(dev.process.pid)

        dev.process.kill()
        dev.process.wait()
        killed_at = time.monotonic()
        deadline = killed_at + GONE_WITHIN_S
        while (left := [p for p in procs if running(p)]) and time.monotonic() < deadline:
            time.sleep(0.02)
        took = time.monotonic() - killed_at
        assert left == [], f"still running {GONE_WITHIN_S:g} s after the kill: {left}"
        print(f"{len(procs)} processes gone {took:.2f} s after the kill")

        again = Dev(checkout, port, "again")  # same port, same var/redis
        try:
            again.wait_ready()
            assert "warning:" not in again.output()
            status = httpx.get(f"{again.url}/jobs/{task_id}/status", timeout=10)
            assert status.status_code == 200, status.text  # the job survived in the AOF
            procs += descendants(again.process.pid)
            again.process.send_signal(signal.SIGTERM)
            again.process.wait(timeout=90)
            assert again.output().rstrip().endswith("dev | stopped"), again.output()[-3000:]
        finally:
            again.close()
    finally:
        dev.close()
        end(procs)


def _kills(refusal: str) -> list[list[int]]:
    """The pids of each `kill ...` a refusal says to run, in order."""
    found = re.findall(r"`kill ([\d ]+)`", refusal)
    assert found, refusal
    return [sorted(int(pid) for pid in pids.split()) for pids in found]


def test_a_start_names_what_a_killed_task_dev_left_running(checkout: Path) -> None:
    """Where the services outlive a killed `task dev` (macOS, or ones started by older code) the next start
    said "another `task dev`?" on the gateway's port, and named only the redis-server on var/redis's lock.
    Now both refusals name every process it left, with the `kill`s that stop them all (children included;
    the redis-server last, else the services wait on it for ~20 s), and a start in no one's way warns."""
    port = free_port()
    without_parent_death = (
        "import runpy; from tools import parent_death; parent_death.disable(); "
        "runpy.run_module('tools.dev', run_name='__main__')"
    )
    dev = Dev(checkout, port, "old", code=without_parent_death)
    procs: list[Proc] = []
    try:
        dev.wait_ready()
        procs = descendants(dev.process.pid)
        dev.process.kill()
        dev.process.wait()
        left = {role(p): p for p in procs if running(p) and role(p) in SERVICES_AND_REDIS}
        assert set(left) == SERVICES_AND_REDIS
        redis = left.pop("redis-server")
        advice = [sorted(p.pid for p in left.values()), [redis.pid]]

        same_port = run_dev(checkout, port)
        assert same_port.returncode == 1
        said = "(Address already in use): a `task dev` here that is gone (killed) left these running: "
        assert said in same_port.stderr, same_port.stderr
        assert _kills(same_port.stderr) == advice

        other_port = run_dev(checkout, free_port())  # refused by var/redis's lock
        assert other_port.returncode == 1
        said = f"var/redis is in use by redis-server pid {redis.pid}: a `task dev` here that is gone (killed)"
        assert said in other_port.stderr, other_port.stderr
        assert _kills(other_port.stderr) == advice

        janitor = left.pop("janitor")  # the rest stopped as advised (each checked by its start time)
        for proc in left.values():
            os.kill(proc.pid, signal.SIGTERM)
        wait_for(lambda: not any(running(p) for p in left.values()), "the services stopped", timeout=30)
        os.kill(redis.pid, signal.SIGTERM)
        wait_for(lambda: not running(redis), "the redis-server stopped", timeout=30)
        warned = Dev(checkout, free_port(), "warned")  # nothing in its way: it starts, naming the janitor
        try:
            wait_for(lambda: "warning:" in warned.output(), "the warning", timeout=60)
            assert f"left these running: janitor {janitor.pid}; stop them with `kill {janitor.pid}`" in (
                warned.output()
            )
            warned.wait_ready()  # up: a stop during start-up is not what this test is about
            procs += descendants(warned.process.pid)
            warned.process.send_signal(signal.SIGTERM)
            try:
                warned.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"no stop in 90 s:\n{warned.output()[-6000:]}") from None
        finally:
            warned.close()
        os.kill(janitor.pid, signal.SIGTERM)
        wait_for(lambda: not any(running(p) for p in procs), "everything stopped", timeout=30)  # children too
    finally:
        dev.close()
        end(procs)


def test_a_child_started_from_a_thread_outlives_that_thread() -> None:
    """The kernel sends the parent-death signal when the *thread* that forked the child ends, not the process:
    the supervisor's loop may run in a thread that ends first (the tests run it in one), and a service it
    started must not die then, only with the process."""
    service = ServiceProcess("http.server", {}, args=("0", "--bind", "127.0.0.1"))
    thread_ids: list[int] = []

    def start() -> None:
        thread_ids.append(threading.get_native_id())
        service.start()

    starter = threading.Thread(target=start)
    starter.start()
    starter.join()
    try:
        wait_for(lambda: not Path(f"/proc/self/task/{thread_ids[0]}").exists(), "the thread ended")
        assert service.process is not None
        with pytest.raises(subprocess.TimeoutExpired):  # a SIGKILL sent as the thread ended lands in ms
            service.process.wait(timeout=1.0)
    finally:
        service.stop()
