"""What a child process does for itself first: die with its parent, take what it starts along when it dies,
and keep its protocol stream clean.

Imported by the children themselves (and the downloader's fork server), so it stays light: no asyncio, no
pydantic, nothing that starts a thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from collections.abc import Iterator

EXIT_PARENT_GONE = 3
"""Exit status of a child whose protocol stream broke: nobody is listening any more."""

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_PR_SET_CHILD_SUBREAPER = 36

WATCHDOG_NAME = "mediajobs-group-watchdog"
"""The group watchdog's ``$0``: the last word of its command line (``ps``), for whoever wonders what it is."""
_WATCHDOG_SCRIPT = "trap '' HUP INT QUIT TERM; read -r _; kill -s KILL 0"
"""Ignore stray signals, wait for EOF on stdin (its parent's end of the pipe closes when the parent dies),
then SIGKILL the process group it shares with its parent: everything still in it, itself last."""
_WATCHDOG_PYTHON = (
    "import os, signal, sys\n"
    "for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):\n"
    "    signal.signal(sig, signal.SIG_IGN)\n"
    "sys.stdin.buffer.read()\n"
    "os.killpg(0, signal.SIGKILL)\n"
)
"""The same, where there is no ``/bin/sh`` (~8 MB instead of ~1 MB)."""


def _prctl(option: int, arg: int | bytes) -> None:
    """Linux ``prctl(2)``; elsewhere (or when it fails) a no-op."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0)


def die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this process when its parent dies, so a crashed (kill -9) service
    leaves no orphan at work. Elsewhere a no-op."""
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


def adopt_orphans() -> None:
    """Linux: become the child subreaper of this process's descendants: a process orphaned below it (its
    parent died) is reparented to this one rather than to init, and must be reaped here. Elsewhere a no-op."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _watchdog_command() -> list[str]:
    shell = "/bin/sh"
    if os.access(shell, os.X_OK):
        return [shell, "-c", _WATCHDOG_SCRIPT, WATCHDOG_NAME]
    python = sys.executable or shutil.which("python3") or "python3"
    return [python, "-I", "-S", "-c", _WATCHDOG_PYTHON, WATCHDOG_NAME]


def _start_watchdog() -> tuple[subprocess.Popen[bytes], int] | None:
    """The watchdog and this process's end of its pipe; None when it could not start."""
    read_end, write_end = os.pipe()  # not inheritable: only this process holds the write end
    try:
        watchdog = subprocess.Popen(
            _watchdog_command(),
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
    except OSError as exc:
        print(f"no process group watchdog: {exc}", file=sys.stderr, flush=True)
        os.close(write_end)
        return None
    finally:
        os.close(read_end)
    return watchdog, write_end


@contextlib.contextmanager
def group_watchdog() -> Iterator[int | None]:
    """While in this block, a process group leader's death takes everything it started along, however it dies.

    A process started here (ffmpeg run by yt-dlp) is in this process's group, so killing the group
    (``killpg``: a cancel, a time limit) stops it too; but this process dying alone (SIGKILL by the kernel's
    parent-death signal when the service was killed, the OOM killer, a crash) left it running, an orphan
    reparented to init: a parent-death signal is not inherited. So a tiny watchdog (a shell, ~1 MB) joins
    the group, blocked on a pipe only this process holds; when this process is gone, however, the pipe ends
    and the watchdog SIGKILLs the group, itself included. Nothing is asked of the dying process, and it is
    pid-reuse safe: the group, and so its id, lives as long as the watchdog does. Leaving the block (a
    normal end, or an exception) stops and reaps the watchdog. Yields the watchdog's pid, or None where there
    is none: not a group leader (killing the group would kill others), or it could not start (the block
    then runs unguarded, as before).
    """
    started = _start_watchdog() if hasattr(os, "getpgid") and os.getpgid(0) == os.getpid() else None
    try:
        yield None if started is None else started[0].pid
    finally:
        if started is not None:
            watchdog, write_end = started
            watchdog.kill()  # first: the pipe's end would make it kill this process too
            watchdog.wait()
            os.close(write_end)


def set_process_name(name: bytes) -> None:
    """Linux: this process's name as ``ps`` and ``/proc/<pid>/comm`` show it (at most 15 bytes)."""
    _prctl(_PR_SET_NAME, name)


class ProtocolOut:
    """The child's protocol stream: owns the real stdout, and points fd 1 at stderr from now on.

    Whatever else prints (a library, a warning) then lands on stderr and cannot corrupt the protocol. A
    write to a parent that has gone ends the process with `EXIT_PARENT_GONE`. Safe to use from threads.
    """

    def __init__(self) -> None:
        sys.stdout.flush()
        self._out: BinaryIO = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
        self._lock = threading.Lock()

    def write(self, line: bytes) -> None:
        """Send one protocol line (with its newline)."""
        with self._lock:
            try:
                self._out.write(line)
                self._out.flush()
            except (BrokenPipeError, ValueError):
                os._exit(EXIT_PARENT_GONE)
