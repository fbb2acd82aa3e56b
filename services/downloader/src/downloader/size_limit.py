"""The size limit's backstop in the child: no file this process (or its ffmpeg) writes may grow past it."""

from __future__ import annotations

import os
import resource
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from downloader.child_protocol import ChildSpec

FSIZE_SLACK = 1024 * 1024
"""RLIMIT_FSIZE = max_filesize + this: the progress hook's check (every 64 KiB) fires first."""


def limit_file_size(max_filesize: int | None) -> None:
    """Writes past the limit fail with EFBIG (`RLIMIT_FSIZE`, inherited by ffmpeg)."""
    if max_filesize is None:
        return
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited by ffmpeg: EFBIG instead of a core dump
    limit = max_filesize + FSIZE_SLACK
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    except (ValueError, OSError):
        pass


def _larger_than(directory: str, limit: int) -> bool:
    for root, _dirs, files in os.walk(directory):
        for name in files:
            try:
                if os.path.getsize(os.path.join(root, name)) > limit:
                    return True
            except OSError:
                continue
    return False


def hit_size_limit(spec: ChildSpec) -> bool:
    """Whether a file in the job's directories is larger than the limit (a failure's real reason)."""
    if spec.max_filesize is None:
        return False
    return any(_larger_than(directory, spec.max_filesize) for directory in (spec.temp_dir, spec.output_dir))
