"""Async side of the yt-dlp child: spawn, feed the spec, stream progress, hard-cancel.

One child process per download (``python -m downloader.ytdlp_child``) in its own session/process
group. Cancelling the awaiting task SIGKILLs the whole group (yt-dlp and any ffmpeg it started)
and reaps it before the `asyncio.CancelledError` propagates, so a stalled socket can't delay a
cancel and nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import deque
from typing import TYPE_CHECKING

from pydantic import ValidationError

from downloader.child_protocol import (
    ChildFailed,
    ChildSpec,
    DoneEvent,
    FailedEvent,
    ProgressEvent,
    parse_child_line,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["CHILD_MODULE", "ChildFailed", "run_child"]

CHILD_MODULE = "downloader.ytdlp_child"

_LINE_LIMIT = 4 * 1024 * 1024
"""StreamReader limit: the longest protocol line accepted (a DoneEvent with a long title/URL)."""
_STDERR_TAIL = 20
_EXIT_GRACE = 5.0
"""Seconds a child may take to exit after its final event before it is killed."""
_DRAIN_GRACE = 1.0
_MAX_CRASH_MESSAGE = 2000


async def _drain_stderr(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    """Read stderr to EOF (so the pipe never fills up), keeping the last lines."""
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line longer than the limit: skip what's buffered
            with contextlib.suppress(ValueError, asyncio.IncompleteReadError):
                await stream.read(_LINE_LIMIT)
            continue
        if not line:
            return
        text = line.decode("utf-8", "replace").strip()
        if text:
            tail.append(text)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return  # reaped: its pid/pgid may belong to someone else by now
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:  # pragma: no cover - not our group (setsid failed?): kill the child alone
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


async def _send_spec(proc: asyncio.subprocess.Process, spec: ChildSpec) -> None:
    stdin = proc.stdin
    assert stdin is not None
    try:
        stdin.write(spec.model_dump_json().encode())
        await stdin.drain()
        stdin.close()
        await stdin.wait_closed()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the child died already; stdout EOF without a final event reports it


async def _read_final_event(
    proc: asyncio.subprocess.Process,
    on_progress: Callable[[ProgressEvent], Awaitable[None]],
    tail: deque[str],
) -> DoneEvent | FailedEvent | None:
    stdout = proc.stdout
    assert stdout is not None
    while True:
        try:
            line = await stdout.readline()
        except ValueError:
            tail.append("protocol error: child wrote an over-long stdout line")
            return None
        if not line:
            return None
        line = line.strip()
        if not line:
            continue
        try:
            event = parse_child_line(line)
        except ValidationError:
            tail.append(f"unparseable stdout line: {line[:200]!r}")
            continue
        if isinstance(event, ProgressEvent):
            await on_progress(event)
        else:
            return event


async def _wait_exit(proc: asyncio.subprocess.Process, grace: float) -> None:
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        _kill_group(proc)
        await proc.wait()


def _crash_message(returncode: int | None, tail: deque[str]) -> str:
    code = "unknown" if returncode is None else str(returncode)
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            code = f"{returncode} ({signal.Signals(-returncode).name})"
    text = f"download process exited with code {code} without a result"
    if tail:
        text += ": " + " | ".join(tail)
    if len(text) > _MAX_CRASH_MESSAGE:
        text = text[: _MAX_CRASH_MESSAGE - 1] + "…"
    return text


async def run_child(
    spec: ChildSpec,
    on_progress: Callable[[ProgressEvent], Awaitable[None]],
    *,
    on_spawn: Callable[[int], object] | None = None,
) -> DoneEvent:
    """Download ``spec`` in a child process; ``on_progress`` is awaited for every progress line.

    Returns the child's `DoneEvent`. Raises `ChildFailed` for a reported failure, or
    ``ChildFailed("transient", "ChildCrashed", <last stderr lines>)`` when the child exits without
    a final event. If the awaiting task is cancelled (or ``on_progress`` raises), the child's
    process group is SIGKILLed and reaped before the exception propagates.
    ``on_spawn`` receives the child's pid (= its process group id) right after the start.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        CHILD_MODULE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        limit=_LINE_LIMIT,
    )
    assert proc.stderr is not None
    tail: deque[str] = deque(maxlen=_STDERR_TAIL)
    stderr_task = asyncio.create_task(_drain_stderr(proc.stderr, tail))
    try:
        if on_spawn is not None:
            on_spawn(proc.pid)
        await _send_spec(proc, spec)
        final = await _read_final_event(proc, on_progress, tail)
        await _wait_exit(proc, _EXIT_GRACE)
    except BaseException:
        _kill_group(proc)
        await proc.wait()
        raise
    finally:
        if not stderr_task.done():
            await asyncio.wait([stderr_task], timeout=_DRAIN_GRACE)
        if not stderr_task.done():
            stderr_task.cancel()

    if isinstance(final, DoneEvent):
        return final
    if isinstance(final, FailedEvent):
        raise ChildFailed.from_event(final)
    raise ChildFailed("transient", "ChildCrashed", _crash_message(proc.returncode, tail))
