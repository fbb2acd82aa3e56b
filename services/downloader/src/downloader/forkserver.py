"""A fork server ("zygote") for the yt-dlp children: one pre-imported process forks each download.

Starting ``python -m downloader.ytdlp_child`` costs about a second of CPU (pydantic, yt-dlp, the extractor
tables) and ~70 MB of private memory per download; 50 downloads starting at once on 2 cores waited ~35 s for
their first byte. The zygote (``python -m downloader.forkserver``, started once per service process and
event loop, when the service starts) imports all of that once and forks a child per download in
milliseconds; the children share the imported code's pages copy-on-write.

Every child keeps the guarantees of a freshly executed one:

* its own session / process group (``setsid``), so ``killpg(pid, SIGKILL)`` stops it and any ffmpeg it
  started, exactly as before; the parent's `child_runner` does not know the difference;
* its own stdin/stdout/stderr (socketpairs), created by the parent and passed over a unix socket
  (``SCM_RIGHTS``);
* a fresh state for everything security-relevant: the zygote never installs the audit hooks (SSRF guard,
  write jail), never opens a network connection and runs no threads (``fork`` with threads is unsafe;
  OpenCV/numpy, which start threads, are imported by the children only); each child installs its hooks
  from its own spec, as before;
* ``PR_SET_PDEATHSIG``: the zygote dies with the service, the children with the zygote; and what a child
  started (ffmpeg), which gets no such signal, dies with the child: a watchdog in the child's group kills
  the group when the child is gone (`jobcommon.child_side.group_watchdog`, started by the child itself).

The zygote is the child subreaper of its children's descendants (``PR_SET_CHILD_SUBREAPER``): a dead
child's watchdog, and what it killed, are reparented to the zygote rather than to init (which, in a
container, may be the service itself and never reap them), and the zygote reaps them. When a child has
exited, the zygote SIGKILLs what is left in its group (an ffmpeg a finished child left running) before it
reports the exit: the child's zombie still holds the group's id, so no other group can be hit. Before it
reports the child reaped, it reaps those too (waiting up to a second), so nothing of the child's group is
left, not even a zombie, once its exit is known.

Exit statuses travel back over the socket. The zygote keeps an exited child as a zombie (``WNOWAIT``)
until the parent has recorded the exit, so the parent can never signal a process group whose id has been
reused meanwhile. Protocol (one datagram per message, ``SOCK_SEQPACKET``)::

    zygote -> parent: b"ready" | b"spawned <seq> <pid>" | b"failed <seq> <errno>" | b"exited <pid>"
                      | b"reaped <pid> <returncode>"
    parent -> zygote: b"spawn <seq>" + 3 fds (stdin, stdout, stderr: the child's ends of two socketpairs)
                      | b"reap <pid>"
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import Any

from jobcommon.child_side import adopt_orphans, die_with_parent, set_process_name

__all__ = ["ForkServer", "ForkedProcess", "fork_server"]

CHILD_NAME = b"ytdlp_child"
"""The forked children's process name (``/proc/<pid>/comm``); their command line is the zygote's."""
_START_TIMEOUT_S = 60.0
_RESTART_BACKOFF_S = 30.0
"""After a failed start, downloads are executed without the zygote for this long before it is tried again."""
_SPAWN_TIMEOUT_S = 10.0
_EXIT_CHILD_CRASHED = 70
_GROUP_GONE_S = 1.0
"""How long the zygote waits for what was left in an exited child's group (SIGKILLed) to die before it tells
the parent the child was reaped; whatever takes longer (stuck in the kernel) is reaped later."""


# ------------------------------------------------------------------------------------------------
# parent side
# ------------------------------------------------------------------------------------------------


class ForkedProcess:
    """A child forked by the zygote; what the runner needs of ``asyncio.subprocess.Process``.

    Its stdin and stdout are one unix socket (stdin ends with a half-close), stderr another. Sockets, not
    pipes: uvloop closes a pipe's descriptor itself and then the pipe's file object too, which can close an
    unrelated descriptor that reused the number in between (seen under load); a socket is detached instead.
    """

    def __init__(self, pid: int, server: ForkServer) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._server = server
        self._exited = asyncio.get_running_loop().create_future()
        self._stdio: asyncio.StreamWriter | None = None
        self._errors: asyncio.StreamWriter | None = None
        self._stdin_open = True
        self.stdout: asyncio.StreamReader
        self.stderr: asyncio.StreamReader

    async def _connect(self, stdio: socket.socket, errors: socket.socket, limit: int) -> None:
        self.stdout, self._stdio = await asyncio.open_unix_connection(sock=stdio, limit=limit)
        errors.shutdown(socket.SHUT_WR)
        self.stderr, self._errors = await asyncio.open_unix_connection(sock=errors, limit=limit)

    @property
    def stdin_closed(self) -> bool:
        return not self._stdin_open or self._stdio is None or self._stdio.is_closing()

    def write_stdin(self, data: bytes) -> None:
        if not self.stdin_closed:
            assert self._stdio is not None
            self._stdio.write(data)

    def close_stdin(self) -> None:
        if self.stdin_closed:
            return
        self._stdin_open = False
        assert self._stdio is not None
        with contextlib.suppress(OSError, RuntimeError):
            self._stdio.write_eof()

    def close(self) -> None:
        """Release the sockets (after the last read)."""
        self._stdin_open = False
        for writer in (self._stdio, self._errors):
            if writer is not None and not writer.is_closing():
                writer.close()

    def _set_returncode(self, returncode: int) -> None:
        if self.returncode is not None:
            return
        self.returncode = returncode
        if not self._exited.done():
            self._exited.set_result(returncode)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


class ForkServer:
    """The parent's connection to one zygote (bound to the event loop that started it)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = asyncio.Lock()
        self._ready: asyncio.Future[None] | None = None
        self._spawned: asyncio.Future[ForkedProcess] | None = None
        self._seq = 0
        self._procs: dict[int, ForkedProcess] = {}
        self._start_failed_at: float | None = None

    @property
    def running(self) -> bool:
        return self._sock is not None

    @property
    def pid(self) -> int | None:
        """The zygote's pid while it runs."""
        return self._proc.pid if self._proc is not None and self._sock is not None else None

    async def _start(self) -> None:
        failed_at = self._start_failed_at
        if failed_at is not None and time.monotonic() - failed_at < _RESTART_BACKOFF_S:
            raise ConnectionError("the fork server failed to start a moment ago")
        self._reap()
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Popen, not asyncio's subprocess: the zygote outlives no loop and needs no transport
            self._proc = subprocess.Popen(  # noqa: ASYNC220 - fork+exec, returns at once
                [sys.executable, "-m", __name__, str(child_end.fileno())],
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the terminal is for the service, not for the zygote
            )
        finally:
            child_end.close()
        self._sock = parent_end
        self._ready = self._loop.create_future()
        self._loop.add_reader(parent_end.fileno(), self._on_readable)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), _START_TIMEOUT_S)
        except BaseException:
            self._start_failed_at = time.monotonic()
            self._shutdown()
            raise
        self._start_failed_at = None

    def _on_readable(self) -> None:
        sock = self._sock
        while sock is not None:
            try:
                message = sock.recv(256, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:
                self._shutdown()
                return
            self._handle(message.split())

    def _handle(self, parts: list[bytes]) -> None:
        kind = parts[0]
        if kind == b"ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(None)
        elif kind in (b"spawned", b"failed"):
            seq, value = int(parts[1]), int(parts[2])
            waiter = self._spawned
            current = waiter is not None and not waiter.done() and seq == self._seq
            if kind == b"failed":
                if current and waiter is not None:
                    waiter.set_exception(OSError(value, f"fork failed: {os.strerror(value)}"))
            elif current and waiter is not None:
                # registered at once, so its exit can't be missed whenever the spawning task resumes
                proc = self._procs[value] = ForkedProcess(value, self)
                waiter.set_result(proc)
            else:  # the spawn that asked for it gave up (timeout, cancel): nobody will talk to it
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(value, signal.SIGKILL)
        elif kind == b"exited":
            pid = int(parts[1])
            with contextlib.suppress(OSError):
                self._send(b"reap %d" % pid)
        elif kind == b"reaped":
            pid, returncode = int(parts[1]), int(parts[2])
            ended = self._procs.pop(pid, None)
            if ended is not None:  # else an abandoned spawn's child
                ended._set_returncode(returncode)

    def _send(self, data: bytes, fds: list[int] | None = None) -> None:
        if self._sock is None:
            raise ConnectionError("the fork server is not running")
        if fds:
            socket.send_fds(self._sock, [data], fds)
        else:
            self._sock.send(data)

    def _reap(self) -> None:
        """Collect an exited zygote (no zombie left behind)."""
        proc = self._proc
        if proc is not None and proc.poll() is not None:
            self._proc = None

    def _shutdown(self) -> None:
        """The zygote is gone (or must go): its children die with it (PDEATHSIG)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            if not self._loop.is_closed():
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
            sock.close()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self._reap()
        for future in (self._ready, self._spawned):
            if future is not None and not future.done():
                future.set_exception(ConnectionError("the fork server exited"))
        children, self._procs = self._procs, {}
        for child in children.values():
            child._set_returncode(-signal.SIGKILL)

    async def warm(self) -> None:
        """Start the zygote now (if not running), so the first download does not wait for its imports."""
        async with self._lock:
            if self._sock is None:
                await self._start()

    async def spawn(self, *, limit: int) -> ForkedProcess:
        """Fork a child running ``downloader.ytdlp_child.main()``; start the zygote first if needed."""
        async with self._lock:
            if self._sock is None:
                await self._start()
            stdio, child_stdio = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            errors, child_errors = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self._spawned = self._loop.create_future()
            self._seq += 1
            try:
                fds = [child_stdio.fileno(), child_stdio.fileno(), child_errors.fileno()]
                self._send(b"spawn %d" % self._seq, fds)
            except BaseException:
                stdio.close()
                errors.close()
                raise
            finally:
                child_stdio.close()
                child_errors.close()
            waiter = self._spawned
            try:
                proc = await asyncio.wait_for(asyncio.shield(waiter), _SPAWN_TIMEOUT_S)
            except BaseException:
                waiter.cancel()  # a late answer is then an orphan, killed on arrival
                stdio.close()
                errors.close()
                raise
        try:
            await proc._connect(stdio, errors, limit)
        except BaseException:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.close()
            stdio.close()
            errors.close()
            raise
        return proc

    def close(self) -> None:
        self._shutdown()


_servers: list[ForkServer] = []
_servers_lock = threading.Lock()


def fork_server() -> ForkServer:
    """This event loop's fork server (created on first use, started on the first spawn).

    Servers of closed event loops are shut down here; all of them at interpreter exit.
    """
    loop = asyncio.get_running_loop()
    with _servers_lock:
        for server in [s for s in _servers if s._loop.is_closed()]:
            server.close()
            _servers.remove(server)
        for server in _servers:
            if server._loop is loop:
                return server
        server = ForkServer()
        _servers.append(server)
        return server


@atexit.register
def _close_all() -> None:
    with _servers_lock:
        for server in _servers:
            with contextlib.suppress(Exception):
                server.close()
        _servers.clear()


# ------------------------------------------------------------------------------------------------
# zygote side
# ------------------------------------------------------------------------------------------------


def _preload() -> None:
    """Import everything a download needs, without starting a thread or opening a connection."""
    import imageio_ffmpeg  # noqa: F401
    import yt_dlp
    import yt_dlp.downloader.dash
    import yt_dlp.downloader.external
    import yt_dlp.downloader.fragment
    import yt_dlp.downloader.hls
    import yt_dlp.downloader.http
    import yt_dlp.downloader.rtmp
    import yt_dlp.extractor.generic
    import yt_dlp.networking
    import yt_dlp.postprocessor
    import yt_dlp.postprocessor.common

    import downloader.ytdlp_child  # noqa: F401
    from downloader.child_protocol import ChildSpec, ControlMessage, ProgressEvent

    # build the pydantic validators and the extractor tables once
    ChildSpec.model_validate_json('{"url": "http://x/", "output_dir": "/x", "temp_dir": "/x"}')
    ControlMessage.model_validate_json("{}")
    ProgressEvent().model_dump_json()
    with yt_dlp.YoutubeDL({"quiet": True, "allowed_extractors": ["generic", "html5"], "cachedir": False}):
        pass


def _child(fds: list[int], close: list[Any]) -> int:
    """In the forked child: become a fresh download process and run it."""
    os.setsid()
    set_process_name(CHILD_NAME)
    zygote = os.getppid()
    die_with_parent()
    if os.getppid() != zygote:  # the zygote died before PDEATHSIG was armed
        return _EXIT_CHILD_CRASHED
    for thing in close:
        with contextlib.suppress(Exception):
            thing.close()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL if sig != signal.SIGPIPE else signal.SIG_IGN)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    from downloader.ytdlp_child import main

    return main()


def _fork(fds: list[int], close: list[Any]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = _EXIT_CHILD_CRASHED
    try:
        code = _child(fds, close)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_leftovers(pid: int) -> None:
    """SIGKILL what is left in the process group of `pid`, an exited child not yet reaped (so its group id
    cannot have been reused)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _reap_group(pgid: int) -> None:
    """Reap what was left in the group of an exited child that was just reaped (its watchdog, its ffmpeg:
    SIGKILLed when it exited, and reparented to the zygote), so that nothing of it is left, not even a
    zombie, when the parent hears of the exit. Safe from pid reuse: a group's id stays taken while the group
    has a member. Waits at most `_GROUP_GONE_S`."""
    deadline = time.monotonic() + _GROUP_GONE_S
    delay = 0.0005
    while True:
        try:
            pid, _ = os.waitpid(-pgid, os.WNOHANG)
        except ChildProcessError:
            return  # none left that is the zygote's
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _reap_orphans(mine: set[int]) -> None:
    """Reap the exited processes reparented to the zygote (a subreaper) that it did not fork: a dead child's
    watchdog, or what that watchdog killed. `mine`: the forked children not reaped yet, which are the
    parent's to reap (``reap``); the first of them that has exited ends the round, the next round goes on."""
    while True:
        try:
            found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if found is None or found.si_pid in mine:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(found.si_pid, 0)


def _serve(
    sock: socket.socket, message: bytes, fds: list[int], live: set[int], mine: set[int], close: list[Any]
) -> None:
    """One request from the parent: fork a child, or reap one."""
    parts = message.split()
    if parts[0] == b"spawn" and len(parts) == 2 and len(fds) == 3:
        try:
            pid = _fork(fds, close)
        except OSError as exc:  # EAGAIN, ENOMEM: this spawn fails, the zygote lives on
            sock.send(b"failed %s %d" % (parts[1], exc.errno or 0))
        else:
            live.add(pid)
            mine.add(pid)
            sock.send(b"spawned %s %d" % (parts[1], pid))
        finally:
            for fd in fds:
                os.close(fd)
        return
    for fd in fds:
        os.close(fd)
    if parts[0] == b"reap" and len(parts) == 2:
        pid = int(parts[1])
        mine.discard(pid)
        try:
            _, status = os.waitpid(pid, 0)
            returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            returncode = -int(signal.SIGKILL)
        _reap_group(pid)
        sock.send(b"reaped %d %d" % (pid, returncode))


def zygote_main(sock_fd: int) -> int:
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:
        return 1
    adopt_orphans()
    _preload()
    sock = socket.socket(fileno=sock_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    close_in_child = [
        selector,
        sock,
        os.fdopen(wake_r, "rb", buffering=0),
        os.fdopen(wake_w, "wb", buffering=0),
    ]
    live: set[int] = set()
    mine: set[int] = set()
    sock.send(b"ready")
    while True:
        for key, _ in selector.select():
            if key.fileobj is sock:
                try:
                    message, fds, _flags, _addr = socket.recv_fds(sock, 256, 3, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    continue
                if not message:
                    return 0  # the parent is gone; the children follow via PDEATHSIG
                _serve(sock, message, fds, live, mine, close_in_child)
            else:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 4096):
                        pass
        for pid in [pid for pid in live if _exited(pid)]:
            live.discard(pid)
            _kill_leftovers(pid)
            sock.send(b"exited %d" % pid)
        _reap_orphans(mine)


if __name__ == "__main__":
    sys.exit(zygote_main(int(sys.argv[1])))
