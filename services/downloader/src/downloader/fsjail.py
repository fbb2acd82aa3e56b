"""A write jail for the yt-dlp child: files can be created, changed, renamed or removed only inside the job's
directories.

yt-dlp names its output from a fixed template (``media.%(ext)s``), but some name parts still come from the
remote side: a subtitle's language (``<track srclang>``), extensions, thumbnail ids. The child sanitises those
(`downloader.ytdlp_child`), and this `sys.addaudithook` hook is the backstop: any write-mode ``open``,
``rename``, ``remove``, ``rmdir``, ``mkdir``, ``truncate``, ``chmod``/``chown``/``utime`` or ``rmtree``
whose resolved path (symlinks followed) leaves the allowed roots raises `BlockedWriteError`, and link
creation (``symlink``/``link``) is refused everywhere. Reading is unaffected, and so are ffmpeg's own writes
(a separate program), whose output names yt-dlp derives from the same sanitised names.

Audit hooks are process-wide and cannot be removed: install it only in a process dedicated to one job.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["BlockedWriteError", "install_write_jail", "jail_roots"]

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    # event: ((path argument index, dir_fd argument index or None), ...)
    "os.rename": ((0, 2), (1, 3)),
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.mkdir": ((0, 2),),
    "os.truncate": ((0, None),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.utime": ((0, 3),),
    "shutil.rmtree": ((0, 1),),
}
_LINK_EVENTS = frozenset({"os.symlink", "os.link"})

_lock = threading.Lock()
_roots: tuple[str, ...] = ()
_files: frozenset[str] = frozenset()
_installed = False
_local = threading.local()


class BlockedWriteError(PermissionError):
    """A write outside the job's directories was refused."""


def _inside(path: str) -> bool:
    if path in _files:
        return True
    return any(path == root or path.startswith(root + os.sep) for root in _roots)


def _absolute(path: Any, dir_fd: Any) -> str | None:
    if isinstance(path, int) or path is None:
        return None  # an already open descriptor
    text = os.fsdecode(path)
    if not os.path.isabs(text):
        if isinstance(dir_fd, int) and dir_fd >= 0:
            base = os.readlink(f"/proc/self/fd/{dir_fd}")
        else:
            base = os.getcwd()
        text = os.path.join(base, text)
    return os.path.normpath(text)


def _check(event: str, path: Any, dir_fd: Any = None) -> None:
    absolute = _absolute(path, dir_fd)
    if absolute is None:
        return
    parent, name = os.path.split(absolute)
    candidates = {os.path.join(os.path.realpath(parent), name), os.path.realpath(absolute)}
    if all(_inside(candidate) for candidate in candidates):
        return
    message = f"{event} outside the job's directory refused: {absolute!r}"
    print(message, file=sys.stderr, flush=True)
    raise BlockedWriteError(message)


def _is_write(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _installed or getattr(_local, "busy", False):
        return
    if event != "open" and event not in _PATH_EVENTS and event not in _LINK_EVENTS:
        return
    _local.busy = True  # our own checks (realpath, readlink) must not re-enter
    try:
        if event == "open":
            if len(args) >= 3 and _is_write(args[1], args[2]):
                _check(event, args[0])
        elif event in _LINK_EVENTS:
            message = f"{event} refused in a download process: {args[:2]!r}"
            print(message, file=sys.stderr, flush=True)
            raise BlockedWriteError(message)
        else:
            for path_index, fd_index in _PATH_EVENTS[event]:
                if path_index < len(args):
                    dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
                    _check(event, args[path_index], dir_fd)
    finally:
        _local.busy = False


def install_write_jail(roots: Iterable[str], files: Iterable[str] = (os.devnull,)) -> None:
    """Allow writes only below ``roots`` (directories, created if missing) and to ``files``.

    Installed once per process; a second call narrows nothing and widens nothing (it raises).
    """
    global _roots, _files, _installed
    resolved = []
    for root in roots:
        os.makedirs(root, exist_ok=True)
        resolved.append(os.path.realpath(root))
    with _lock:
        if _installed:
            raise RuntimeError("the write jail is already installed")
        _roots = tuple(resolved)
        _files = frozenset(os.path.realpath(f) for f in files)
        sys.addaudithook(_hook)
        _installed = True


def jail_roots() -> tuple[str, ...]:
    return _roots
