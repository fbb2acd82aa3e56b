"""Free disk space under MEDIA_ROOT (the downloader refuses to start below a threshold; health reports it)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["free_space"]


def free_space(media_root: str | os.PathLike[str]) -> int:
    """Bytes available to an unprivileged writer on the filesystem holding ``media_root``.

    ``media_root`` need not exist yet: its nearest existing ancestor is asked. Raises ``OSError`` only
    when not even ``/`` can be queried.
    """
    path = Path(media_root).absolute()
    while True:
        try:
            stat = os.statvfs(path)
        except (FileNotFoundError, NotADirectoryError):
            if path.parent == path:
                raise
            path = path.parent
            continue
        return stat.f_bavail * stat.f_frsize
