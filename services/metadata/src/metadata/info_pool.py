"""yt-dlp child processes for extraction: spawned on demand, a few kept warm, killed whenever in doubt.

Importing yt-dlp costs a new process about 0.6 s, so a child (``python -m metadata.info_child``) serves many
extractions one after the other. Each child runs in its own session/process group. If an answer is late
(`timeout_s`), the caller is cancelled (job cancel, time limit) or anything else goes wrong mid-request, the
group is SIGKILLed and reaped before the exception propagates: a stalled server can never hold up a cancel,
and a child is never reused in an unknown state. Healthy children go back to the idle list (most recently
used first out): `max_idle` of them stay warm for up to `idle_s`; the rest, started for a burst of concurrent
extractions, linger `LINGER_S` in case the burst goes on, then stop. A child is replaced after `max_uses`,
and there are never more than `max_children`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import TYPE_CHECKING

from pydantic import ValidationError

from jobcommon.cancellation import cancel_and_wait
from jobcommon.child_process import (
    DRAIN_GRACE_S,
    ChildFailed,
    StderrTail,
    crash_message,
    kill_and_reap,
    spawn_module,
)
from metadata.info_protocol import (
    REPLY_ADAPTER,
    ChildConfig,
    ChildReady,
    ExtractDone,
    ExtractFailed,
    ExtractRequest,
    dump_line,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from metadata.source_info import SourceInfo

CHILD_MODULE = "metadata.info_child"

LINGER_S = 5.0
"""Idle children beyond `max_idle` stop after this long unused."""
SPAWN_PATIENCE_S = 0.25
"""No child has come free (or been started) for this long: a waiting lookup starts another one."""
READY_TIMEOUT_S = 30.0
"""How long a new child may take to import yt-dlp and say it is ready."""
REAP_EVERY_S = 1.0

log = logging.getLogger("mediajobs.metadata")


def _crashed(message: str) -> ChildFailed:
    return ChildFailed("transient", "ExtractorCrashed", message)


class _Child:
    """One running ``metadata.info_child`` process."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        self.proc = proc
        self._stdin = proc.stdin
        self._stdout = proc.stdout
        self.uses = 0
        self.idle_since = time.monotonic()
        self.tail = StderrTail(proc.stderr)

    async def _exchange(self, line: bytes) -> bytes:
        """Send one line, read the one line that answers it; a child that died raises `ChildFailed`."""
        try:
            self._stdin.write(line)
            await self._stdin.drain()
            answer = await self._stdout.readline()
        except (BrokenPipeError, ConnectionResetError, ValueError):
            answer = b""
        if not answer:  # the child died: its exit status and last words make the message
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), DRAIN_GRACE_S)
            await self.tail.settle()
            code = self.proc.returncode
            raise _crashed(crash_message("extractor process", code, self.tail.lines, missing="an answer"))
        return answer

    async def start(self, config: ChildConfig) -> None:
        """Send the config, wait for the child's ready line."""
        line = await self._exchange(dump_line(config))
        try:
            ChildReady.model_validate_json(line)
        except ValidationError:
            raise _crashed(f"unexpected first line from the extractor: {line[:200]!r}") from None

    async def ask(self, request: ExtractRequest) -> ExtractDone | ExtractFailed:
        """Send one request, await its one answer."""
        self.uses += 1
        line = await self._exchange(dump_line(request))
        try:
            reply = REPLY_ADAPTER.validate_json(line)
        except ValidationError:
            raise _crashed(f"unparseable answer from the extractor: {line[:200]!r}") from None
        if reply.id != request.id:
            raise _crashed("the extractor answered another request")
        return reply

    async def discard(self) -> None:
        """SIGKILL the process group and reap it."""
        await kill_and_reap(self.proc)
        await self.tail.close()


class InfoPool:
    """Extract video info with yt-dlp in child processes; `extract` is safe to call concurrently.

    At most `max_children` children exist. They are started one at a time, each counted as started once it
    is ready to serve (yt-dlp imported and its extractors loaded), and only when no child has come free for
    `SPAWN_PATIENCE_S`: a burst of fast lookups shares one child instead of forking a storm of interpreters
    competing for the CPU, while lookups stuck on slow servers get more children, one after the other.
    """

    def __init__(
        self,
        config: ChildConfig,
        *,
        timeout_s: float,
        max_children: int = 8,
        max_idle: int = 2,
        idle_s: float = 60.0,
        max_uses: int = 200,
    ) -> None:
        self.config = config
        self.timeout_s = timeout_s
        self.max_children = max_children
        self.max_idle = max_idle
        self.idle_s = idle_s
        self.max_uses = max_uses
        self._idle: list[_Child] = []
        self._live = 0
        """Children alive or being started (idle + busy + starting)."""
        self._starting = False
        self._last_free = 0.0
        """When a child last came free (or was started): lookups wait `SPAWN_PATIENCE_S` after it."""
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._reaper: asyncio.Task[None] | None = None
        self._warming: asyncio.Task[None] | None = None
        self._closed = False
        self.spawned = 0
        """How many child processes this pool has started (for diagnostics and tests)."""

    async def extract(self, url: str, before: Callable[[], Awaitable[None]] | None = None) -> SourceInfo:
        """The info of `url`; raises `ChildFailed`. Cancelling the caller kills the child at once.

        `before` is awaited once a child is ready, just before it is asked (a host's rate limit turn: the
        fetch then starts at the turn, not after a child's start-up); what it raises returns the child."""
        child = await self._acquire()
        healthy = False
        try:
            if before is not None:
                healthy = True  # the child was not asked anything: it stays good
                await before()
                healthy = False
            request = ExtractRequest(id=next(self._ids), url=url)
            reply = await asyncio.wait_for(child.ask(request), self.timeout_s)
            healthy = True
        except TimeoutError:
            raise ChildFailed(
                "transient", "ExtractionTimeout", f"extraction took longer than {self.timeout_s:g} s"
            ) from None
        finally:
            await self._release(child, healthy=healthy)
        if isinstance(reply, ExtractFailed):
            raise ChildFailed(reply.kind, reply.error_type, reply.message)
        return reply.info

    def prewarm(self) -> None:
        """Start one child in the background, so the first lookup does not wait for yt-dlp to load."""
        if self._warming is None and self.max_idle > 0:
            self._warming = asyncio.create_task(self._prewarm())

    async def _prewarm(self) -> None:
        try:
            child = await self._acquire()
        except ChildFailed as exc:
            log.warning("could not start a yt-dlp child ahead of time: %s", exc.message)
            return
        await self._release(child, healthy=True)

    async def _acquire(self) -> _Child:
        """An idle child; else, once no child has come free for `SPAWN_PATIENCE_S`, a new one."""
        asked = time.monotonic()
        async with self._changed:
            while True:
                if self._closed:
                    raise ChildFailed("transient", "ServiceStopping", "the metadata service is stopping")
                if self._idle:
                    return self._idle.pop()  # the most recently used: the others may age out
                now = time.monotonic()
                patience_until = max(asked, self._last_free) + SPAWN_PATIENCE_S
                may_start = not self._starting and self._live < self.max_children
                if may_start and (self._live == 0 or now >= patience_until):
                    self._starting = True
                    self._live += 1
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), patience_until - now if may_start else None)
        started = False
        try:
            child = await self._spawn()
            started = True
            return child
        finally:
            async with self._changed:
                self._starting = False
                self._last_free = time.monotonic()
                if not started:
                    self._live -= 1
                self._changed.notify_all()

    async def _release(self, child: _Child, *, healthy: bool) -> None:
        keep = healthy and not self._closed and child.uses < self.max_uses
        if keep:
            child.idle_since = self._last_free = time.monotonic()
            self._idle.append(child)
            self._start_reaper()
        else:
            await child.discard()
        async with self._changed:
            if not keep:
                self._live -= 1
            self._changed.notify_all()

    async def _spawn(self) -> _Child:
        try:
            proc = await spawn_module(CHILD_MODULE)
        except OSError as exc:
            message = f"cannot start the extractor: {exc}"
            raise ChildFailed("transient", "ExtractorSpawnFailed", message) from exc
        self.spawned += 1
        child = _Child(proc)
        try:
            await asyncio.wait_for(child.start(self.config), READY_TIMEOUT_S)
        except BaseException as exc:
            await child.discard()
            if isinstance(exc, TimeoutError):
                raise _crashed(f"the extractor was not ready after {READY_TIMEOUT_S:g} s") from None
            raise
        return child

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        while self._idle:
            await asyncio.sleep(min(self.idle_s, REAP_EVERY_S))
            stale = self._stale(time.monotonic())
            for child in stale:
                self._idle.remove(child)
            await asyncio.gather(*(child.discard() for child in stale), return_exceptions=True)
            if stale:
                async with self._changed:
                    self._live -= len(stale)
                    self._changed.notify_all()

    def _stale(self, now: float) -> list[_Child]:
        """Idle children to stop: the warm `max_idle` (most recently used) after `idle_s`, others sooner."""
        newest_first = sorted(self._idle, key=lambda c: c.idle_since, reverse=True)
        linger = min(LINGER_S, self.idle_s)
        return [
            child
            for rank, child in enumerate(newest_first)
            if now - child.idle_since >= (self.idle_s if rank < self.max_idle else linger)
        ]

    async def close(self) -> None:
        """Stop every idle child; children busy right now are stopped when their extraction ends."""
        self._closed = True
        for task in (self._warming, self._reaper):
            if task is not None:
                await cancel_and_wait(task)
        self._warming = self._reaper = None
        idle, self._idle = self._idle, []
        await asyncio.gather(*(child.discard() for child in idle), return_exceptions=True)
        async with self._changed:
            self._live -= len(idle)
            self._changed.notify_all()
