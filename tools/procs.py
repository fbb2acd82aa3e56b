"""Start, stop and kill mediajobs service processes (used by `task dev` and by the tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tools import parent_death

if TYPE_CHECKING:
    from collections.abc import Sequence

SERVICES = ("gateway", "downloader", "metadata", "imaging", "janitor")


class ServiceProcess:
    """One service (`python -m <module>`) as a child process; its output is prefixed and kept."""

    def __init__(
        self,
        module: str,
        env: dict[str, str],
        *,
        name: str | None = None,
        echo: IO[str] | None = None,
        cwd: Path | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.module = module
        self.args = list(args)
        self.name = name or module
        self.env = env
        self.echo = echo
        self.cwd = cwd
        self.process: subprocess.Popen[str] | None = None
        self.lines: deque[str] = deque(maxlen=2000)
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start it in a session of its own; it is SIGKILLed when this process ends, however it ends (Linux:
        `tools.parent_death`), and its own children follow it (they watch their parent)."""
        self.process = parent_death.spawn(
            lambda preexec_fn: subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=preexec_fn,  # noqa: PLW1509 - one prctl, nothing to lock (parent_death)
            ),
            signal.SIGKILL,
        )
        self._reader = threading.Thread(target=self._pump, args=(self.process,), daemon=True)
        self._reader.start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                self.lines.append(line.rstrip("\n"))
                if self.echo is not None:
                    self.echo.write(f"{self.name:>10} | {line}")
                    self.echo.flush()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL the service and its children (e.g. a yt-dlp child), as a crash would."""
        self.signal(signal.SIGKILL)
        self.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds — first asking a stuck service where it is waiting
        (SIGUSR1: its asyncio tasks; SIGUSR2: every thread's stack), so its output says why."""
        if self.process is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.lines.append(
                f"[{self.name}] did not stop within {timeout:g} s of SIGTERM; its tasks and threads:"
            )
            for dump in (signal.SIGUSR1, signal.SIGUSR2):
                self.signal(dump)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=1.0)
            self.kill()
            return self.process.returncode if self.process else None

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def output(self) -> str:
        return "\n".join(self.lines)
