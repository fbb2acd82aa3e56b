"""What a download child started (the ffmpeg yt-dlp runs to post-process) dies with the child, however it
ends: its service SIGKILLed (the zygote and the child die by their parent-death signal, which ffmpeg does
not get), the child SIGKILLed alone, or a child that finished but left something behind.

ffmpeg is made slow here by a wrapper (``FFMPEG_LOCATION``) that runs the real one (imageio-ffmpeg's) at the
pace of playback (``-re``) whenever it reads an input, so extracting the audio of a 10-minute clip lasts 10
minutes: long enough to be caught at work. Every test kills what it leaves behind, passed or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import imageio_ffmpeg
import pytest

from downloader import forkserver
from downloader.child_protocol import ProgressEvent
from downloader.child_runner import run_child
from jobcommon import JobClient
from jobcommon.child_process import ChildFailed
from jobcommon.child_side import WATCHDOG_NAME
from tests.processes import children, cmdline, download_children
from tests.support.httpserver import MediaServer
from tests.support.media import _ffmpeg
from tests.support.specs import child_spec

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.cluster import Cluster

FFMPEG = os.path.realpath(imageio_ffmpeg.get_ffmpeg_exe())
CLIP_S = 600
FOUND_WITHIN_S = 90.0
"""From submitting to ffmpeg at work: a zygote start, a download of 1 MB, yt-dlp's probes (busy 2 cores)."""
GONE_WITHIN_S = 30.0
"""From the kill to nothing of the download left running; measured: well under a second."""


# --------------------------------------------------------------------------------------------
# processes, through /proc
# --------------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: state, ppid, pgrp, ...; None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _running_in_group(pgid: int) -> list[int]:
    """Processes of process group `pgid` that still run (zombies have stopped: they are no longer listed)."""
    found = []
    for pid in _pids():
        fields = _stat(pid)
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(pid)
    return found


def _ffmpegs(marker: str) -> list[int]:
    """Running processes of the real ffmpeg extracting an audio stream (``-vn``: not one of yt-dlp's
    short probes) whose command line names `marker` (a test's directory)."""
    found = []
    for pid in _pids():
        with contextlib.suppress(OSError):
            command = cmdline(pid)
            if os.readlink(f"/proc/{pid}/exe") == FFMPEG and marker in command and " -vn " in command:
                found.append(pid)
    return found


def _naming(marker: str) -> list[int]:
    """Running processes (not zombies) whose command line names `marker`."""
    return [pid for pid in _pids() if (_stat(pid) or ["Z"])[0] != "Z" and marker in cmdline(pid)]


def _zombie_children(pid: int) -> list[int]:
    return [child for child in children(pid) if (_stat(child) or ["?"])[0] == "Z"]


def _describe(pids: list[int]) -> str:
    return "; ".join(f"{pid}: {cmdline(pid)}" for pid in pids)


async def _until(condition: Any, timeout: float, what: str) -> Any:
    """Poll `condition` (run in a thread: it reads /proc) until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        if found := await asyncio.to_thread(condition):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.05)


class Leftovers:
    """What a test must not leave running: processes naming its directory (`marker`), and the members of
    the process groups it notes (a download child's, while that group's id can't have been reused: the
    test's own processes are still in it or just left it)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.groups: set[int] = set()
        self.children: list[int] = []

    def spawned(self, pid: int) -> None:
        """`run_child`'s ``on_spawn``: a download child (and so a process group) was started."""
        self.children.append(pid)
        self.groups.add(pid)

    def kill(self) -> str:
        """SIGKILL them; say who was still running (pid, parent, command line)."""
        left = self._left()
        said = "; ".join(f"{pid} (parent {(_stat(pid) or ['', '?'])[1]}): {cmdline(pid)}" for pid in left)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return said or "nothing"

    def _left(self) -> list[int]:
        left = set(_naming(self.marker))
        for group in self.groups:
            left.update(_running_in_group(group))
        return sorted(left)


@pytest.fixture
def leftovers(tmp_path: Path) -> Iterator[Leftovers]:
    found = Leftovers(str(tmp_path))
    yield found
    found.kill()


# --------------------------------------------------------------------------------------------
# a long clip, a slow ffmpeg
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """long.mp4: 10 minutes of a tiny picture and a tone (~1 MB, made in ~2 s)."""
    root = tmp_path_factory.mktemp("long_site")
    # fmt: off
    _ffmpeg(
        "-f", "lavfi", "-i", f"color=c=blue:s=32x32:r=1:d={CLIP_S}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=8000:duration={CLIP_S}",
        "-c:v", "mpeg4", "-c:a", "aac", "-b:a", "16k", "-shortest", str(root / "long.mp4"),
    )
    # fmt: on
    return root


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[MediaServer]:
    with MediaServer(site) as srv:
        yield srv


def _wrapper(directory: Path, *, pace: bool = True, before: str = ":") -> Path:
    """``directory/ffmpeg``: the real ffmpeg, reading its input at the pace of playback (``-re``) if `pace`;
    `before` is shell run first whenever it reads an input."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ffmpeg"
    path.write_text(
        "#!/bin/sh\n"
        'case " $* " in\n'
        f'  *" -i "*) {before}\n'
        f'    exec {FFMPEG} {"-re" if pace else ""} "$@" ;;\n'
        "esac\n"
        f'exec {FFMPEG} "$@"\n'
    )
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def slow_ffmpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _wrapper(tmp_path_factory.mktemp("slow_ffmpeg"))


# --------------------------------------------------------------------------------------------
# the service killed
# --------------------------------------------------------------------------------------------


async def test_killed_downloader_leaves_no_ffmpeg_running(
    cluster: Cluster, server: MediaServer, slow_ffmpeg: Path, leftovers: Leftovers
) -> None:
    """kill -9 of the service while its download's ffmpeg extracts the audio: that ffmpeg, and everything
    else of the download, is gone within seconds (it used to run on, reparented to init, writing into the
    job's directory while the job was retried elsewhere)."""
    service = cluster.start("downloader", FFMPEG_LOCATION=str(slow_ffmpeg))
    async with JobClient(cluster.settings) as client:
        await client.submit(
            {"job_type": "video_download", "url": server.url("long.mp4"), "options": {"audio_only": True}}
        )
        found = await _until(
            lambda: _ffmpegs(leftovers.marker), FOUND_WITHIN_S, "ffmpeg extracting the audio"
        )
    (ffmpeg,) = found
    group = os.getpgid(ffmpeg)
    leftovers.groups.add(group)
    assert group in download_children(service.pid), "ffmpeg is in its download child's process group"
    cluster.kill(service)
    try:
        await _until(lambda: not _running_in_group(group), GONE_WITHIN_S, "the download's group gone")
    except AssertionError:
        raise AssertionError(f"still running after the kill: {leftovers.kill()}") from None
    assert not _ffmpegs(leftovers.marker)


# --------------------------------------------------------------------------------------------
# the child killed alone, and a child that finished
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_forkserver", [True, False], ids=["forked", "executed"])
async def test_a_child_killed_alone_takes_its_ffmpeg_along(
    server: MediaServer, slow_ffmpeg: Path, tmp_path: Path, leftovers: Leftovers, use_forkserver: bool
) -> None:
    """The download child SIGKILLed by itself (an OOM kill, a crash), not its group: its ffmpeg dies too, and
    the zygote reaps what was reparented to it (no zombie)."""
    spec = child_spec(tmp_path, server.url("long.mp4"), audio_only=True, ffmpeg_location=str(slow_ffmpeg))
    task = asyncio.create_task(
        run_child(spec, _ignore, on_spawn=leftovers.spawned, forkserver=use_forkserver)
    )
    try:
        found = await _until(lambda: _ffmpegs(leftovers.marker), FOUND_WITHIN_S, "ffmpeg at work")
        (child,) = leftovers.children
        assert {os.getpgid(pid) for pid in found} == {child}
        os.kill(child, signal.SIGKILL)  # the child alone
        with pytest.raises(ChildFailed) as failed:
            await asyncio.wait_for(task, GONE_WITHIN_S)
        assert failed.value.error_type == "ChildCrashed"
        try:
            await _until(lambda: not _running_in_group(child), GONE_WITHIN_S, "the child's group gone")
        except AssertionError:
            raise AssertionError(f"still running: {leftovers.kill()}") from None
        if use_forkserver:
            zygote = forkserver.fork_server().pid
            assert zygote is not None
            await _until(lambda: not _zombie_children(zygote), GONE_WITHIN_S, "no zombie under the zygote")
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def _ignore(event: ProgressEvent) -> None:
    pass


class _Watch:
    """A progress callback noting, on the first event, what runs in the child's process group."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.group: list[str] | None = None

    async def __call__(self, event: ProgressEvent) -> None:
        if self.group is None and self.pids:
            members = await asyncio.to_thread(_running_in_group, self.pids[0])
            self.group = [cmdline(pid) for pid in members]


@pytest.mark.parametrize("use_forkserver", [True, False], ids=["forked", "executed"])
async def test_a_finished_child_had_a_watchdog_and_stopped_it(
    server: MediaServer, tmp_path: Path, leftovers: Leftovers, use_forkserver: bool
) -> None:
    """While a child runs, its group holds the watchdog; a child that finishes stops and reaps it itself: no
    orphan (nobody else to reap it where the service is a container's pid 1)."""
    watch = _Watch(leftovers.children)
    fast = _wrapper(tmp_path / "bin", pace=False)
    spec = child_spec(tmp_path, server.url("long.mp4"), audio_only=True, ffmpeg_location=str(fast))
    done = await asyncio.wait_for(
        run_child(spec, watch, on_spawn=leftovers.spawned, forkserver=use_forkserver), FOUND_WITHIN_S
    )
    (child,) = leftovers.children
    assert done.ext == "m4a"
    assert watch.group is not None
    assert [line for line in watch.group if WATCHDOG_NAME in line], watch.group
    left = await asyncio.to_thread(_running_in_group, child)
    assert not left, _describe(left)


async def test_what_a_finished_child_left_running_is_killed_by_the_zygote(
    server: MediaServer, tmp_path: Path, leftovers: Leftovers
) -> None:
    """A forked child that finished, leaving a process of its group running (here: one its ffmpeg started in
    the background), does not leave it behind: the zygote kills the group before reporting the exit (the
    child's zombie still holds the group's id), and reaps it."""
    stray = _wrapper(tmp_path / "bin", pace=False, before=f"sleep {CLIP_S} </dev/null >/dev/null 2>&1 &")
    spec = child_spec(tmp_path, server.url("long.mp4"), audio_only=True, ffmpeg_location=str(stray))
    done = await asyncio.wait_for(run_child(spec, _ignore, on_spawn=leftovers.spawned), FOUND_WITHIN_S)
    (child,) = leftovers.children
    assert done.ext == "m4a"
    try:
        await _until(lambda: not _running_in_group(child), GONE_WITHIN_S, "the child's group gone")
    except AssertionError:
        raise AssertionError(f"still running: {leftovers.kill()}") from None
    zygote = forkserver.fork_server().pid
    assert zygote is not None
    await _until(lambda: not _zombie_children(zygote), GONE_WITHIN_S, "no zombie under the zygote")


async def test_an_orphan_below_the_zygote_is_reparented_to_it_and_reaped(
    server: MediaServer, tmp_path: Path, leftovers: Leftovers
) -> None:
    """The zygote is the subreaper of its children's descendants: a process orphaned below it (here one that
    left its group, ``setsid``, so no watchdog can reach it) is reparented to the zygote rather than to init
    (which, in a container, may be the service itself, reaping nothing), and the zygote reaps it."""
    escape = f"import os, time; os.setsid(); time.sleep({CLIP_S})  # {tmp_path}"
    wrapper = _wrapper(
        tmp_path / "bin", pace=False, before=f"{sys.executable} -c '{escape}' </dev/null >/dev/null 2>&1 &"
    )
    spec = child_spec(tmp_path, server.url("long.mp4"), audio_only=True, ffmpeg_location=str(wrapper))
    await asyncio.wait_for(run_child(spec, _ignore, on_spawn=leftovers.spawned), FOUND_WITHIN_S)
    zygote = forkserver.fork_server().pid
    assert zygote is not None
    escaped = await _until(lambda: _naming(escape), 30, "the process that left its group")

    def adopted() -> bool:
        return all((_stat(pid) or ["", "?"])[1] == str(zygote) for pid in escaped)

    await _until(adopted, 30, f"reparented to the zygote {zygote}")
    for pid in escaped:
        os.kill(pid, signal.SIGKILL)
    await _until(lambda: not any(_stat(pid) for pid in escaped), 30, "reaped by the zygote")


# --------------------------------------------------------------------------------------------
# the watchdog itself
# --------------------------------------------------------------------------------------------

_GUARDED = """
import os, signal, subprocess, sys
from jobcommon import child_side
if sys.argv[1] == "no-shell":
    child_side.os.access = lambda *args, **kwargs: False  # as where there is no /bin/sh
with child_side.group_watchdog() as watchdog:
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # " + sys.argv[2]])
    print(watchdog, flush=True)
    sys.stdin.readline()
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("shell", ["shell", "no-shell"])
async def test_the_group_watchdog_kills_what_a_killed_leader_started(
    tmp_path: Path, leftovers: Leftovers, shell: str
) -> None:
    """A process group leader inside `group_watchdog` that is SIGKILLed takes what it started along: with
    the shell watchdog, and with the Python one where there is no /bin/sh."""
    leader = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _GUARDED, shell, str(tmp_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert leader.stdin is not None
    assert leader.stdout is not None
    leftovers.groups.add(leader.pid)
    watchdog = int(await asyncio.wait_for(leader.stdout.readline(), 60))
    assert os.getpgid(watchdog) == leader.pid
    expected = "/bin/sh" if shell == "shell" else sys.executable
    assert cmdline(watchdog).startswith(expected)
    assert WATCHDOG_NAME in cmdline(watchdog)
    (started,) = await _until(lambda: _naming("time.sleep(600)  # " + str(tmp_path)), 30, "its child")
    leader.stdin.write(b"die\n")
    assert await asyncio.wait_for(leader.wait(), 30) == -signal.SIGKILL
    await _until(lambda: not _running_in_group(leader.pid), GONE_WITHIN_S, f"{started} killed")


async def test_no_group_watchdog_for_a_process_that_leads_no_group() -> None:
    """Not a group leader: no watchdog (killing the group would kill its parent's processes)."""
    probe = "from jobcommon.child_side import group_watchdog\nwith group_watchdog() as w:\n    print(w)"
    done = await asyncio.create_subprocess_exec(sys.executable, "-c", probe, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(done.communicate(), 60)
    assert out.decode().strip() == "None"
