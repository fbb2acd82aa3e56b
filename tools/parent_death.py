"""Child processes that end with the process that started them, however it ends (even `kill -9`).

`task dev` starts its services and its redis-server each in a session of their own (a Ctrl-C in the terminal
is for `task dev`, which stops them in order). A `task dev` that was killed left them all running, orphans
still at work on their Redis. Here, on Linux, each child gets a parent-death signal (``PR_SET_PDEATHSIG``,
armed between fork and exec), which the kernel sends it when its parent goes.

The kernel sends that signal when the *thread* that forked the child ends, not the process: a child started
from the supervisor's loop running in a thread that ends first (the tests run it in one) would be signalled
then. So every child is forked by a thread that lives as long as the process (`spawn`): the main thread
when it asks, else one spawner thread started for the purpose. Elsewhere (macOS) a plain start: no such
signal exists there.
"""

from __future__ import annotations

import ctypes
import os
import queue
import sys
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    """libc's ``prctl`` with its argument types, or None (not Linux, or no such symbol)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    return prctl


_prctl: Any = _load_prctl()
"""Loaded once, here: the forked child must not import or load anything before exec."""


def disable() -> None:
    """Children started from now on outlive this process, as on macOS (tests use it to leave one running)."""
    global _prctl
    _prctl = None


def _arm(death_signal: int, parent: int) -> Callable[[], None] | None:
    """The `preexec_fn` that has the kernel send `death_signal` to the child when `parent` ends."""
    prctl = _prctl
    if prctl is None:
        return None

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)  # a refusal (a sandbox's filter) leaves it unguarded
        if os.getppid() != parent:  # the parent ended between fork and prctl: nobody to signal us
            os._exit(1)

    return arm


class _Spawner:
    """Runs each start on the main thread (when it asks) or on one daemon thread, started on first use from
    another thread: either ends only with the process."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, start: Callable[[], T]) -> T:
        if threading.current_thread() is threading.main_thread():
            return start()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="child-spawner", daemon=True)
                self._thread.start()
            requests = self._requests
        done: Future[T] = Future()
        requests.put((start, done))
        return done.result()

    def forget(self) -> None:
        """In a forked child: the parent's thread is not there; the next start makes the child's own."""
        self._requests = queue.SimpleQueue()
        self._thread = None
        self._lock = threading.Lock()

    def _serve(self) -> None:
        requests = self._requests
        while True:
            start, done = requests.get()
            if not done.set_running_or_notify_cancel():
                continue
            try:
                result = start()
            except BaseException as exc:  # handed to the caller, raised there
                done.set_exception(exc)
            else:
                done.set_result(result)


_spawner = _Spawner()
os.register_at_fork(after_in_child=_spawner.forget)


def spawn(start: Callable[[Callable[[], None] | None], T], death_signal: int) -> T:
    """`start(preexec_fn)` (a `subprocess.Popen(..., preexec_fn=preexec_fn)`), run so that the child gets
    `death_signal` when this process ends: forked by a thread as long-lived as the process, with the signal
    armed before exec. Without parent-death signals `preexec_fn` is None."""
    parent = os.getpid()
    return _spawner.run(lambda: start(_arm(death_signal, parent)))
