"""Async side of the yt-dlp child: spawn, feed the spec, stream progress, hard-cancel.

One child process per download or playlist listing in its own session/process group: forked by the
pre-imported zygote (`downloader.forkserver`, the default: milliseconds instead of a second of imports per
download) or executed as ``python -m downloader.ytdlp_child`` (``forkserver=False``; also whenever
``CHILD_MODULE`` is changed, and when the zygote can't be started). Cancelling the awaiting task SIGKILLs
the whole group (yt-dlp and any ffmpeg it started) and reaps it before the `asyncio.CancelledError`
propagates, so a stalled socket can't delay a cancel and nothing is left behind. The same happens when
the child goes quiet for longer than ``inactivity_timeout`` (no new bytes, no change of stage;
post-processing is exempt).

Tracing: each child runs inside a `yt-dlp child` span; the child gets that span's `traceparent` in its spec
and reports its own spans (`ytdlp extract`, `ytdlp download`, `ytdlp postprocess`, ...) as `SpanEvent`
lines, which are exported from here into the same trace (see `jobcommon.span_records` for why the child
does not export them itself).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from opentelemetry.trace import Status, StatusCode
from pydantic import ValidationError

from downloader import forkserver
from downloader.child_protocol import (
    ChildSpec,
    ControlMessage,
    DoneEvent,
    EntriesEvent,
    FailedEvent,
    ProgressEvent,
    SpanEvent,
    parse_child_line,
)
from jobcommon import job_spans
from jobcommon.child_process import (
    LINE_LIMIT,
    ChildFailed,
    StderrTail,
    crash_message,
    kill_and_reap,
    kill_group,
    spawn_module,
)
from jobcommon.span_records import RecordedSpan
from jobcommon.tracing import export_recorded, tracer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

FinalEvent = DoneEvent | EntriesEvent | FailedEvent

__all__ = ["CHILD_MODULE", "ChildControl", "list_entries", "run_child"]

DEFAULT_CHILD_MODULE = "downloader.ytdlp_child"
CHILD_MODULE = DEFAULT_CHILD_MODULE
"""What runs in the child; anything but the default is executed, never forked (tests swap it)."""
USE_FORKSERVER = True
"""Default for ``forkserver=None``."""

log = logging.getLogger("mediajobs.downloader")

_EXIT_GRACE = 5.0
"""Seconds a child may take to exit after its final event before it is killed."""


class _Child(Protocol):
    """What the runner needs of a child process, forked or executed."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    @property
    def stdout(self) -> asyncio.StreamReader: ...

    @property
    def stderr(self) -> asyncio.StreamReader: ...

    @property
    def stdin_closed(self) -> bool: ...

    def write_stdin(self, data: bytes) -> None: ...

    def close_stdin(self) -> None: ...

    def close(self) -> None:
        """Release the streams once everything was read."""

    async def wait(self) -> int: ...


class _ExecutedChild:
    """``python -m CHILD_MODULE`` via asyncio's subprocess support."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._proc = proc
        self._stdin = proc.stdin
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    @property
    def stdin_closed(self) -> bool:
        return self._stdin.is_closing()

    def write_stdin(self, data: bytes) -> None:
        if not self._stdin.is_closing():
            self._stdin.write(data)

    def close_stdin(self) -> None:
        if not self._stdin.is_closing():
            self._stdin.close()

    def close(self) -> None:
        self.close_stdin()  # asyncio closes the rest when the process ends

    async def wait(self) -> int:
        return await self._proc.wait()


async def _spawn(use_forkserver: bool) -> _Child:
    if use_forkserver and CHILD_MODULE == DEFAULT_CHILD_MODULE:
        try:
            return await forkserver.fork_server().spawn(limit=LINE_LIMIT)
        except (OSError, ConnectionError, TimeoutError) as exc:
            log.warning("fork server unavailable (%s); executing the download process instead", exc)
    return _ExecutedChild(await spawn_module(CHILD_MODULE))


class ChildControl:
    """The parent's end of a running child's control channel (its stdin after the spec).

    ``set_share_limit`` may be called at any time, before, during or after the child runs; the child
    applies the latest value to the bytes it receives from then on.
    """

    def __init__(self, share_limit: int | None = None) -> None:
        self._share_limit = share_limit
        self._child: _Child | None = None

    @property
    def share_limit(self) -> int | None:
        return self._share_limit

    def set_share_limit(self, share_limit: int | None) -> None:
        if share_limit == self._share_limit:
            return
        self._share_limit = share_limit
        self._send()

    def _send(self) -> None:
        child = self._child
        if child is None or child.stdin_closed:
            return
        line = ControlMessage(share_limit=self._share_limit).model_dump_json().encode() + b"\n"
        try:
            child.write_stdin(line)
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            self._child = None

    def _attach(self, child: _Child) -> None:
        self._child = child
        self._send()  # the share may have changed since the spec was built

    def _detach(self) -> None:
        self._child = None


def _send_spec(proc: _Child, spec: ChildSpec, control: ChildControl | None) -> None:
    try:
        proc.write_stdin(spec.model_dump_json().encode() + b"\n")
        if control is not None:
            control._attach(proc)
            return
        proc.close_stdin()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the child died already; stdout EOF without a final event reports it


class _Stalled(Exception):
    pass


class _Watchdog:
    """Inactivity timer: reset by progress that advances (bytes, fragment, stage); off in post-processing."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._last: tuple[object, ...] | None = None
        self._stage = "extracting"
        self._since = asyncio.get_running_loop().time()

    def seen(self, event: ProgressEvent) -> None:
        key = (event.stage, event.downloaded_bytes, event.fragment_index)
        if key != self._last:
            self._last = key
            self._stage = event.stage
            self._since = asyncio.get_running_loop().time()

    def remaining(self) -> float | None:
        if self.timeout is None or self._stage == "postprocessing":
            return None
        return self._since + self.timeout - asyncio.get_running_loop().time()


async def _read_final_event(
    proc: _Child,
    on_progress: Callable[[ProgressEvent], Awaitable[None]],
    tail: StderrTail,
    watchdog: _Watchdog,
) -> FinalEvent | None:
    stdout = proc.stdout
    while True:
        remaining = watchdog.remaining()
        try:
            if remaining is None:
                line = await stdout.readline()
            elif remaining <= 0:
                raise _Stalled
            else:
                try:
                    line = await asyncio.wait_for(stdout.readline(), remaining)
                except TimeoutError:
                    continue  # re-check: the deadline may have moved
        except ValueError:
            tail.note("protocol error: child wrote an over-long stdout line")
            return None
        if not line:
            return None
        line = line.strip()
        if not line:
            continue
        try:
            event = parse_child_line(line)
        except ValidationError:
            tail.note(f"unparseable stdout line: {line[:200]!r}")
            continue
        if isinstance(event, ProgressEvent):
            watchdog.seen(event)
            await on_progress(event)
        elif isinstance(event, SpanEvent):
            try:
                export_recorded([RecordedSpan.from_json(event.span)], scope="downloader.ytdlp_child")
            except (KeyError, TypeError, ValueError):
                tail.note(f"unusable span line: {line[:200]!r}")
        else:
            return event


async def _wait_exit(proc: _Child, grace: float) -> None:
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        await kill_and_reap(proc)


async def _ignore_progress(event: ProgressEvent) -> None:
    pass


async def _run(
    spec: ChildSpec,
    on_progress: Callable[[ProgressEvent], Awaitable[None]],
    *,
    on_spawn: Callable[[int], object] | None,
    before_start: Callable[[], Awaitable[None]] | None,
    control: ChildControl | None,
    inactivity_timeout: float | None,
    forkserver: bool | None,
) -> DoneEvent | EntriesEvent:
    with tracer.start_as_current_span(
        "yt-dlp child",
        attributes={"mediajobs.child.action": spec.action},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        if spec.traceparent is None:
            spec = spec.model_copy(update={"traceparent": job_spans.carrier().get(job_spans.TRACEPARENT)})

        def spawned(pid: int) -> None:
            span.set_attribute("process.pid", pid)
            if on_spawn is not None:
                on_spawn(pid)

        try:
            return await _run_child(
                spec,
                on_progress,
                on_spawn=spawned,
                before_start=before_start,
                control=control,
                inactivity_timeout=inactivity_timeout,
                forkserver=forkserver,
            )
        except ChildFailed as exc:
            span.set_status(Status(StatusCode.ERROR, exc.message))
            span.set_attribute("error.type", exc.error_type)
            raise


async def _run_child(
    spec: ChildSpec,
    on_progress: Callable[[ProgressEvent], Awaitable[None]],
    *,
    on_spawn: Callable[[int], object],
    before_start: Callable[[], Awaitable[None]] | None,
    control: ChildControl | None,
    inactivity_timeout: float | None,
    forkserver: bool | None,
) -> DoneEvent | EntriesEvent:
    proc = await _spawn(USE_FORKSERVER if forkserver is None else forkserver)
    tail = StderrTail(proc.stderr)
    stalled = False
    try:
        on_spawn(proc.pid)
        if before_start is not None:
            await before_start()  # the child waits for its spec, ready to fetch at once
        _send_spec(proc, spec, control)
        try:
            final = await _read_final_event(proc, on_progress, tail, _Watchdog(inactivity_timeout))
        except _Stalled:
            stalled = True
            final = None
            kill_group(proc)
        if control is not None:
            control._detach()
        proc.close_stdin()
        await _wait_exit(proc, _EXIT_GRACE)
    except BaseException:
        if control is not None:
            control._detach()
        proc.close_stdin()
        await kill_and_reap(proc)
        raise
    finally:
        await tail.close()
        proc.close()

    if stalled:
        raise ChildFailed(
            "transient",
            "DownloadStalled",
            f"no data received for {inactivity_timeout:g} s; the download was stopped",
        )
    if isinstance(final, DoneEvent | EntriesEvent):
        return final
    if isinstance(final, FailedEvent):
        raise ChildFailed(final.kind, final.error_type, final.message)
    message = crash_message("download process", proc.returncode, tail.lines, missing="a result")
    raise ChildFailed("transient", "ChildCrashed", message)


async def run_child(
    spec: ChildSpec,
    on_progress: Callable[[ProgressEvent], Awaitable[None]],
    *,
    on_spawn: Callable[[int], object] | None = None,
    before_start: Callable[[], Awaitable[None]] | None = None,
    control: ChildControl | None = None,
    inactivity_timeout: float | None = None,
    forkserver: bool | None = None,
) -> DoneEvent:
    """Download ``spec`` in a child process; ``on_progress`` is awaited for every progress line.

    Returns the child's `DoneEvent`. Raises `ChildFailed` for a reported failure,
    ``ChildFailed("transient", "ChildCrashed", <last stderr lines>)`` when the child exits without
    a final event, and ``ChildFailed("transient", "DownloadStalled", …)`` after ``inactivity_timeout``
    seconds without progress. If the awaiting task is cancelled (or ``on_progress`` raises), the child's
    process group is SIGKILLed and reaped before the exception propagates.
    ``on_spawn`` receives the child's pid (= its process group id) right after the start; ``control``
    keeps the child's stdin open to change its bandwidth share while it runs. ``before_start`` is awaited
    once the child is up, just before it is told what to fetch (a host's rate limit turn: the fetch then
    starts at the turn, not a spawn later); what it raises ends the run as a cancel does. ``forkserver``
    (default `USE_FORKSERVER`) forks the child from the zygote instead of executing a fresh interpreter.
    """
    if spec.action != "download":
        raise ValueError(f"run_child downloads; use list_entries for action={spec.action!r}")
    final = await _run(
        spec,
        on_progress,
        on_spawn=on_spawn,
        before_start=before_start,
        control=control,
        inactivity_timeout=inactivity_timeout,
        forkserver=forkserver,
    )
    if not isinstance(final, DoneEvent):
        raise ChildFailed("transient", "ChildCrashed", f"download process answered {final.event!r}")
    return final


async def list_entries(
    spec: ChildSpec,
    *,
    on_spawn: Callable[[int], object] | None = None,
    before_start: Callable[[], Awaitable[None]] | None = None,
    inactivity_timeout: float | None = None,
    forkserver: bool | None = None,
) -> EntriesEvent:
    """List the entries of the playlist at ``spec.url`` (``spec.action`` must be ``"list"``).

    A URL that is a single video yields one entry (itself). At most ``spec.max_entries`` entries
    (``truncated`` tells whether there were more). Same failure and kill-on-cancel behaviour as `run_child`.
    """
    if spec.action != "list":
        raise ValueError("list_entries needs a spec with action='list'")
    final = await _run(
        spec,
        _ignore_progress,
        on_spawn=on_spawn,
        before_start=before_start,
        control=None,
        inactivity_timeout=inactivity_timeout,
        forkserver=forkserver,
    )
    if not isinstance(final, EntriesEvent):
        raise ChildFailed("transient", "ChildCrashed", f"listing process answered {final.event!r}")
    return final
