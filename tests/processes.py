"""Look at a process's descendants through /proc (to prove a cancelled download's child is gone)."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> list[int]:
    """Pids whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    """Children, grandchildren, … of `pid`."""
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def download_children(service_pid: int) -> list[int]:
    """yt-dlp download processes of a downloader service: executed ones (``-m downloader.ytdlp_child``) and
    the ones its fork server forked (named ``ytdlp_child``); the fork server itself is not one."""
    return [
        pid for pid in descendants(service_pid) if "ytdlp_child" in cmdline(pid) or comm(pid) == "ytdlp_child"
    ]
