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


def download_children(service_pid: int) -> list[int]:
    """yt-dlp child processes of a downloader service."""
    return [pid for pid in children(service_pid) if "ytdlp_child" in cmdline(pid)]
