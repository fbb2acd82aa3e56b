"""The CLI stopped as a person stops it: Ctrl-C in a terminal (SIGINT to the whole process group, which
`uv run` passes on to the CLI a second time), or several stop signals close together. Each is one stop:
`queues -i` ends with 0 (its normal end), `watch` with 130 (143 for SIGTERM), a confirmation with 130 and
nothing done; never a traceback, a death by signal, a table cut in the middle or a terminal left without its
cursor."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from jobcommon import CommonSettings, ErrorInfo, JobClient
from tests.conftest import ApiKeys, Stack, bearer
from tests.support.dead_letters import bury

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(Path(sys.executable).parent / "mediajobs")
"""The workspace's `mediajobs` command (its console script, as `uv run mediajobs` runs it)."""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SHOW_CURSOR, HIDE_CURSOR = b"\x1b[?25h", b"\x1b[?25l"
BOTTOM = re.compile(r"^[└+][─┴\-+]+[┘+]$")
"""The last line of a (whole) table."""


def cli_env(stack: Stack, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAJOBS_")}
    return {**env, "MEDIAJOBS_URL": stack.api_url, "MEDIAJOBS_API_KEY": key, "COLUMNS": "120"}


@dataclass
class Running:
    """The CLI in a process group of its own (as a shell runs a job), its output read from `fd`."""

    proc: subprocess.Popen[bytes]
    fd: int
    output: bytes = b""

    def read_until(self, done: Callable[[bytes], bool], timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.output) and time.monotonic() < deadline:
            self._read(0.2)
        assert done(self.output), self.output.decode(errors="replace")

    def exit_code(self, timeout: float = 30) -> int:
        """Its exit code, everything it wrote read (a terminal's end: EIO once the CLI closed it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._read(0.2) and self.proc.poll() is not None:
                break
        try:
            return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"the CLI did not exit:\n{self.output.decode(errors='replace')}")

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # a terminal whose other end closed
            return False
        self.output += chunk
        return bool(chunk)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], cwd: Path, terminal: bool) -> Iterator[Running]:
    """`command` in a new session (so a process group of its own), its stdin, stdout and stderr a terminal
    120 columns wide, or stdout and stderr one pipe."""
    if terminal:
        leader, follower = os.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {**{k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}, "TERM": "xterm-256color"}
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=follower,
            stdout=follower,
            stderr=follower,
            start_new_session=True,
        )
        os.close(follower)
        fd = leader
    else:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
    try:
        yield Running(proc, fd)
    finally:
        if proc.poll() is None:  # a failed test leaves nothing behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if terminal:
            os.close(fd)
        elif proc.stdout is not None:
            proc.stdout.close()


def uv_run() -> list[str]:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    return [uv, "run", "--no-sync", "--project", str(ROOT), "mediajobs"]


@pytest.fixture
def sleeping_job(stack: Stack, api_keys: ApiKeys) -> Iterator[str]:
    """An echo job of Alice's that runs a minute (cancelled at the end)."""
    headers = bearer(api_keys.alice_submit)
    job = httpx.post(
        f"{stack.api_url}/jobs/submit", json={"job_type": "echo", "sleep_s": 60}, headers=headers, timeout=10
    ).json()
    yield job["task_id"]
    httpx.post(f"{stack.api_url}/jobs/{job['task_id']}/cancel", headers=headers, timeout=10)


def queues_shown(output: bytes) -> bool:
    return ANSI.sub("", output.decode(errors="replace")).count("video_downloads") >= 2


def assert_ended_whole(running: Running, terminal: bool, tables: bool) -> None:
    """No traceback; every line ended; a table's last line drawn; the terminal's cursor shown again."""
    text = ANSI.sub("", running.text).replace("\r\n", "\n")
    assert "Traceback" not in text, text
    assert "KeyboardInterrupt" not in text, text
    assert text.endswith("\n"), text[-500:]
    lines = [line.rstrip() for line in text.split("\n") if line.strip()]
    if tables:
        assert BOTTOM.match(lines[-1].strip()), lines[-5:]
        if not terminal:  # one table per refresh, each whole
            assert text.count("queues at ") == sum(bool(BOTTOM.match(line.strip())) for line in lines), text
    if terminal and HIDE_CURSOR in running.output:
        assert running.output.rfind(SHOW_CURSOR) > running.output.rfind(HIDE_CURSOR), running.output[-300:]


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
@pytest.mark.parametrize("command", ["queues", "watch"])
def test_ctrl_c_through_uv_run_is_one_stop(
    stack: Stack, api_keys: ApiKeys, sleeping_job: str, tmp_path: Path, command: str, terminal: bool
) -> None:
    """`uv run mediajobs queues -i 1` and Ctrl-C: SIGINT to the process group, which uv passes on to the CLI
    once more. `queues -i` ends with 0 (it exited 130, or died of the second SIGINT), `watch` with 130."""
    args = ["queues", "-i", "0.3"] if command == "queues" else ["watch", sleeping_job]
    env = cli_env(stack, api_keys.admin)
    with started([*uv_run(), *args], env, tmp_path, terminal) as running:
        if command == "queues":
            running.read_until(queues_shown)
        else:
            running.read_until(lambda out: b"slept" in out)
        os.killpg(running.proc.pid, signal.SIGINT)
        code = running.exit_code()
    assert code == (0 if command == "queues" else 130), running.text
    assert_ended_whole(running, terminal, tables=command == "queues")


STOPS = {
    "two SIGINTs at once": (signal.SIGINT, 0.0, signal.SIGINT),
    "two SIGINTs 0.03 s apart": (signal.SIGINT, 0.03, signal.SIGINT),
    "two SIGINTs 0.1 s apart": (signal.SIGINT, 0.1, signal.SIGINT),
    "SIGTERM then SIGINT": (signal.SIGTERM, 0.05, signal.SIGINT),
}


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
@pytest.mark.parametrize("stops", list(STOPS.values()), ids=list(STOPS))
@pytest.mark.parametrize("command", ["queues", "watch"])
def test_stop_signals_close_together_are_one_stop(
    stack: Stack,
    api_keys: ApiKeys,
    sleeping_job: str,
    tmp_path: Path,
    command: str,
    stops: tuple[signal.Signals, float, signal.Signals],
    terminal: bool,
) -> None:
    """Two stop signals 0 to 0.1 s apart to the `mediajobs` process: one stop. `queues -i` ends with 0,
    `watch` with 128 + the first signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
    first, gap, second = stops
    args = ["queues", "-i", "0.3"] if command == "queues" else ["watch", sleeping_job]
    with started([SCRIPT, *args], cli_env(stack, api_keys.admin), tmp_path, terminal) as running:
        if command == "queues":
            running.read_until(queues_shown)
        else:
            running.read_until(lambda out: b"slept" in out)
        running.proc.send_signal(first)
        if gap:
            time.sleep(gap)
        with contextlib.suppress(ProcessLookupError):  # it may be gone already: fine
            running.proc.send_signal(second)
        code = running.exit_code()
    assert code == (0 if command == "queues" else 128 + first), running.text
    assert_ended_whole(running, terminal, tables=command == "queues")


def test_ctrl_c_at_a_confirmation_does_nothing_and_exits_130(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    """`dead --retry-all` asks first; Ctrl-C (twice, through uv) at the question: exit 130, "interrupted:
    nothing done", and the letter is still dead."""
    owner = f"dana{uuid.uuid4().hex[:8]}"
    admin = bearer(api_keys.admin)
    made = httpx.post(
        f"{stack.api_url}/keys", json={"name": "signals", "owner": owner, "role": "submit"}, headers=admin
    )
    assert made.status_code in (200, 201), made.text
    task_id = uuid.uuid4().hex

    async def dead_letter() -> None:
        settings = CommonSettings(redis_url=stack.redis_url, media_root=stack.media_root)
        async with JobClient(settings) as client:
            request = {"job_type": "echo", "fail_with": "again"}
            await bury(client, task_id, owner=owner, request=request, error=ErrorInfo(type="X", message="x"))

    asyncio.run(dead_letter())
    env = cli_env(stack, made.json()["key"])
    with started([*uv_run(), "dead", "--retry-all"], env, tmp_path, terminal=True) as running:
        running.read_until(lambda out: b"[y/N]" in out)
        os.killpg(running.proc.pid, signal.SIGINT)
        code = running.exit_code()
    assert code == 130, running.text
    assert "interrupted: nothing done" in running.text
    assert "Traceback" not in running.text
    job = httpx.get(f"{stack.api_url}/jobs/{task_id}/status", headers=admin, timeout=10).json()
    assert job["dead"] is True
    assert job["status"] == "failed"
    purge = {"task_ids": [task_id]}
    assert httpx.post(f"{stack.api_url}/jobs/dead/purge", json=purge, headers=admin).status_code == 200
