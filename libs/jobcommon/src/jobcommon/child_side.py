"""What a child process does for itself first: die with its parent, and keep its protocol stream clean.

Imported by the children themselves (and the downloader's fork server), so it stays light: no asyncio, no
pydantic, nothing that starts a thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import BinaryIO

EXIT_PARENT_GONE = 3
"""Exit status of a child whose protocol stream broke: nobody is listening any more."""

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


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
