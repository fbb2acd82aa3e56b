"""Processes a killed `task dev` of this checkout left running, and who holds a port (Linux: /proc).

A `task dev` ended by `kill -9` used to leave its services and its redis-server running, orphans still at
work on their Redis; its services now end with it (`tools.parent_death`), except where the kernel has no
parent-death signal (macOS) or when older code started them. A new `task dev` that finds such processes
names them and the `kill` that stops them; it does not stop them itself: the command line, the working
directory and a parent that is no process of this checkout make a strong case, not a proof, that nobody
wants them (a service started by hand with `nohup` looks the same).

Elsewhere (no /proc) nothing is found, and the messages say what they can without it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from tools.procs import SERVICES

PROC = Path("/proc")
REDIS_DATA = Path("var") / "redis"
"""Under the checkout: the data directory of `task dev`'s own redis-server (its working directory)."""


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    name: str
    """What it is: a service's module (`gateway`) or `redis-server`."""


def _cmdline(pid: int) -> list[str]:
    raw = (PROC / str(pid) / "cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _ppid(pid: int) -> int:
    stat = (PROC / str(pid) / "stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])  # after the command name, which may hold anything


def _cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(PROC / str(pid) / "cwd"))
    except OSError:  # another user's process, or gone
        return None


def _service(cmdline: list[str]) -> str | None:
    """`gateway` for `python -m gateway`; None for anything else."""
    if len(cmdline) >= 3 and cmdline[1] == "-m" and cmdline[2] in SERVICES:
        return cmdline[2]
    return None


def _pids() -> list[int]:
    try:
        return sorted(int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit())
    except OSError:  # no /proc (macOS)
        return []


def checkout_processes(root: Path) -> list[Process]:
    """The processes a `task dev` in `root` starts: its services (`python -m <service>`, working in `root`)
    and its redis-server (working in `root`/var/redis: it changes to its data directory)."""
    found: list[Process] = []
    redis_dir = (root / REDIS_DATA).resolve()  # as /proc shows a working directory
    for pid in _pids():
        with contextlib.suppress(OSError, ValueError, IndexError):
            cwd = _cwd(pid)
            if cwd == root and (service := _service(_cmdline(pid))):
                found.append(Process(pid, _ppid(pid), service))
            elif cwd == redis_dir and (PROC / str(pid) / "comm").read_text().strip() == "redis-server":
                found.append(Process(pid, _ppid(pid), "redis-server"))
    return found


def _is_task_dev(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return any(part.endswith("tools.dev") for part in _cmdline(pid))
    return False


def _is_supervisor(pid: int, root: Path) -> bool:
    """Whether `pid` is a process of this checkout that runs services: a `task dev` (or a test run)."""
    return _cwd(pid) == root or _is_task_dev(pid)


def left_running(root: Path) -> list[Process]:
    """`root`'s `task dev` processes whose parent is no process of this checkout any more: their `task dev`
    is gone (they were handed to init, or to a subreaper)."""
    return [proc for proc in checkout_processes(root) if not _is_supervisor(proc.ppid, root)]


def listeners(port: int) -> list[int]:
    """The processes (of this user: others' are not visible) listening on TCP `port`, any address."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{inode}]")
    holders: list[int] = []
    if not inodes:
        return holders
    for pid in _pids():
        with contextlib.suppress(OSError):
            fds = PROC / str(pid) / "fd"
            if any(os.readlink(fds / fd) in inodes for fd in os.listdir(fds)):
                holders.append(pid)
    return holders


def describe(procs: list[Process]) -> str:
    """`gateway 120, janitor 124, redis-server 118`"""
    return ", ".join(f"{proc.name} {proc.pid}" for proc in procs)


def stop_them(procs: list[Process]) -> str:
    """What to tell the user about `procs`, processes a gone `task dev` left running: the `kill` that stops
    them, its redis-server last (the services hand their jobs back to it as they stop; without it they wait
    on it for some 20 s)."""
    services = " ".join(str(proc.pid) for proc in procs if proc.name != "redis-server")
    servers = " ".join(str(proc.pid) for proc in procs if proc.name == "redis-server")
    if services and servers:
        how = f"`kill {services}`, then `kill {servers}` (the redis-server last)"
    else:
        how = f"`kill {services or servers}`"
    return (
        f"a `task dev` here that is gone (killed) left these running: {describe(procs)}; stop them with {how}"
    )


def _command(pid: int) -> str:
    with contextlib.suppress(OSError):
        text = " ".join(_cmdline(pid))
        return text if len(text) <= 80 else text[:77] + "..."
    return "?"


def port_holders(port: int, root: Path) -> str:
    """Who holds `port`, for `task dev`'s refusal, with what to do: stop the processes a killed `task dev`
    left (named), stop the other `task dev` (named), or stop what else listens there or pick another port."""
    holders = listeners(port)
    mine = {proc.pid: proc for proc in checkout_processes(root)}
    ours = [mine[pid] for pid in holders if pid in mine]
    if any(not _is_supervisor(proc.ppid, root) for proc in ours):
        return f"{stop_them(left_running(root))}, and start again"
    if ours:
        parent = ours[0].ppid
        if _is_task_dev(parent):
            runs = f"another `task dev` runs here (pid {parent})"
        else:
            runs = f"its {ours[0].name} was started by pid {parent} (`{_command(parent)}`)"
        return f"{runs}: stop it (Ctrl-C there, or `kill {parent}`), or set GATEWAY_PORT to a free port"
    if holders:
        named = ", ".join(f"pid {pid} (`{_command(pid)}`)" for pid in holders)
        return f"{named} listens there: stop it, or set GATEWAY_PORT to a free port"
    return "stop what listens there, or set GATEWAY_PORT to a free port"
