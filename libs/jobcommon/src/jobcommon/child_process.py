"""The parent's side of a child process doing risky work (yt-dlp on untrusted URLs): start, watch, kill.

A child runs ``python -m <module>`` in its own session, so its pid is its process group's id and
`kill_group` stops it together with anything it started (ffmpeg); a child that dies alone (a crash, its
parent killed) takes that along too when it runs `jobcommon.child_side.group_watchdog`. Its stdout carries
the JSON-lines protocol (read up to `LINE_LIMIT` per line); its stderr is drained to EOF by a `StderrTail`,
so the pipe never fills up and the last lines explain a crash (`crash_message`). A child's reported failure,
or its death without an answer, is a `ChildFailed`. What runs inside the child is in
`jobcommon.child_side`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import deque
from typing import TYPE_CHECKING, Literal, Protocol

from jobcommon.errors import JobError, MediaJobsError, PermanentError, TransientError
from jobcommon.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Iterable

ErrorKind = Literal["permanent", "transient"]
"""Whether running the same job again later may help."""

LINE_LIMIT = 4 * 1024 * 1024
"""StreamReader limit: the longest protocol line accepted (a result with a long title or URL)."""
STDERR_LINES = 20
"""Lines of a child's stderr kept for the crash message."""
DRAIN_GRACE_S = 1.0
"""How long the stderr of a child that ended may take to reach EOF."""
MAX_CRASH_MESSAGE = 1000
"""A crash message is cut to this many characters (a job's error message is no longer)."""


class ChildFailed(MediaJobsError):
    """A child reported a failure, or died without an answer: `kind` says whether trying later may help."""

    def __init__(self, kind: ErrorKind, error_type: str, message: str) -> None:
        super().__init__(f"{kind} {error_type}: {message}")
        self.kind: ErrorKind = kind
        self.error_type = error_type
        self.message = message

    def to_job_error(self) -> JobError:
        """The error that ends a job with this failure: retried later only when transient."""
        error = TransientError if self.kind == "transient" else PermanentError
        return error(self.message, error_type=self.error_type)


class Reapable(Protocol):
    """What `kill_group` and `kill_and_reap` need of a child, executed (asyncio) or forked."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


async def spawn_module(module: str) -> asyncio.subprocess.Process:
    """``python -m module`` with piped stdin/stdout/stderr, in a session (and process group) of its own."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        limit=LINE_LIMIT,
    )


def kill_group(child: Reapable) -> None:
    """SIGKILL the child's process group (the child and whatever it started), unless it was reaped."""
    if child.returncode is not None:
        return  # reaped: its pid/pgid may belong to someone else by now
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:  # pragma: no cover - not our group (setsid failed?): kill the child alone
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)


async def kill_and_reap(child: Reapable) -> None:
    """`kill_group`, then wait for the child's exit status (no zombie left behind)."""
    kill_group(child)
    await child.wait()


class StderrTail:
    """Reads a child's stderr to EOF in a task of its own, keeping the last `STDERR_LINES` lines."""

    def __init__(self, stream: asyncio.StreamReader, lines: int = STDERR_LINES) -> None:
        self.lines: deque[str] = deque(maxlen=lines)
        self._task = asyncio.create_task(self._drain(stream))

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the limit: skip what is buffered
                with contextlib.suppress(ValueError, asyncio.IncompleteReadError):
                    await stream.read(LINE_LIMIT)
                continue
            if not line:
                return
            if text := line.decode("utf-8", "replace").strip():
                self.lines.append(text)

    def note(self, text: str) -> None:
        """Add a line of the parent's own (e.g. a protocol error) to what a crash message shows."""
        self.lines.append(text)

    async def settle(self, grace: float = DRAIN_GRACE_S) -> None:
        """Give the stream up to `grace` seconds to reach EOF; keep reading afterwards if it has not."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), grace)

    async def close(self, grace: float = DRAIN_GRACE_S) -> None:
        """Give the stream up to `grace` seconds to reach EOF, then stop reading it."""
        if not self._task.done():
            await asyncio.wait([self._task], timeout=grace)
        if not self._task.done():
            self._task.cancel()


def crash_message(what: str, returncode: int | None, tail: Iterable[str], *, missing: str) -> str:
    """``<what> exited with code <n> (<signal>) without <missing>; its last output: <last stderr lines>``, cut
    to size (the lines are what it said last, not necessarily why it ended: a kill leaves no word)."""
    code = "unknown" if returncode is None else str(returncode)
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            code = f"{returncode} ({signal.Signals(-returncode).name})"
    text = f"{what} exited with code {code} without {missing}"
    if lines := " | ".join(tail):
        text += "; its last output: " + redact(lines)  # masked before the cut below
    return text if len(text) <= MAX_CRASH_MESSAGE else text[: MAX_CRASH_MESSAGE - 1] + "…"
