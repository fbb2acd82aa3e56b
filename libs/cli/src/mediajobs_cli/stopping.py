"""How the CLI stops on SIGINT (Ctrl-C) or SIGTERM: once, cleanly, whatever else arrives meanwhile.

A terminal's Ctrl-C sends SIGINT to the whole foreground process group, so a CLI started by `uv run` (or
`task`, or a shell script) gets it twice: from the terminal and again from the parent passing it on. The
first stop signal raises `Stopped` in the main thread; every later one is the same stop and is ignored, so
the way out (a live display's last frame, the terminal's cursor shown again, the exit code) is never cut
short by a second interrupt. `held()` keeps a stop from landing in the middle of some output: it is raised
when the block ends instead.

Python runs a signal's handler between two of its instructions: a signal that comes just before a blocking
call (a sleep, a read of the event stream or of the terminal) would wait until that call returns, which may
be 15 s (the event stream's keep-alive) or never (a question nobody answers). So every signal also wakes a
thread (`signal.set_wakeup_fd`) that sends it on to the main thread until its handler has run: the blocking
call is interrupted and the stop happens at once.

`queues -i` takes `Stopped` as its normal end (exit 0); every other command exits 128 + the signal's number
(130 for Ctrl-C, 143 for SIGTERM), as a shell reports a process that such a signal ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

from mediajobs_cli.exit_codes import ExitCode

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
NUDGE_EVERY_S = 0.05
"""How often a stop signal whose handler has not run yet is sent to the main thread again."""


class Stopped(BaseException):
    """A stop signal arrived. Not an Exception (as KeyboardInterrupt is not): no `except Exception` on the
    way (in httpx, say) takes it for an error of its own."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> ExitCode:
        """128 + the signal's number, as a shell reports a process that the signal ended."""
        return ExitCode.INTERRUPTED if self.signum == signal.SIGINT else ExitCode.TERMINATED


class _StopOnce:
    """The stop signals' handler: the first one raises `Stopped` (at once, or when the outermost `held`
    block ends); from then on the stop signals are ignored by the process."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.raised = False
        self.holding = 0
        self.over = False
        """The command's work is done: nothing is raised any more."""

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None or self.over:
            return  # the same stop, passed on once more (`uv run`, `task`): it is under way
        self.received = signum
        ignore_stop_signals()
        if not self.holding:
            self.raised = True
            raise Stopped(signum)

    def release(self) -> None:
        """At the end of a held block: the stop that arrived during it, if any, now."""
        if self.received is not None and not self.raised and not self.holding and not self.over:
            self.raised = True
            raise Stopped(self.received)

    def nudge(self, wakeup: int, main_thread: int) -> None:
        """(Its own thread.) Each stop signal, sent on to the main thread until the handler took it."""
        stops = {int(s) for s in STOP_SIGNALS}
        while True:
            try:
                arrived = os.read(wakeup, 64)
            except OSError:
                return
            for signum in stops.intersection(arrived):
                while self.received is None and not self.over:
                    signal.pthread_kill(main_thread, signum)
                    time.sleep(NUDGE_EVERY_S)


_handler: _StopOnce | None = None


def install() -> None:
    """Make SIGINT and SIGTERM raise `Stopped` once (a signal the CLI was started ignoring, as under
    `nohup` or in a shell's background job, stays ignored). From the main thread, before any work."""
    global _handler
    handler = _handler = _StopOnce()
    caught = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
    for stop_signal in caught:
        signal.signal(stop_signal, handler)
    if caught:
        wakeup, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        main_thread = threading.get_ident()
        threading.Thread(
            target=handler.nudge, args=(wakeup, main_thread), name="stop-signals", daemon=True
        ).start()


def ignore_stop_signals() -> None:
    """No stop signal interrupts what is left to do (the process is on its way out): they are ignored by
    the process itself, so that none can kill it while Python shuts down either."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


def finished() -> None:
    """The command's work is over: a stop signal from now on changes nothing."""
    if _handler is not None:
        _handler.over = True
        ignore_stop_signals()


@contextlib.contextmanager
def held() -> Iterator[None]:
    """A stop signal arriving during the block takes effect when the block ends (a table or a live frame is
    written whole, not cut mid-line). Works with other threads running too (a live display's refresher):
    the signal is deferred in Python, not blocked in one thread. Outside the CLI's `main`: no effect."""
    handler = _handler
    if handler is None:
        yield
        return
    handler.holding += 1
    try:
        yield
    finally:
        handler.holding -= 1
    handler.release()
