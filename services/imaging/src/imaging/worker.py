"""What runs inside a CPU pool process before its first job: signals, library limits, warm imports.

Kept apart from `imaging.pool` (and the service's imports) so the spawned processes load only what the
work needs: Pillow, OpenCV, numpy and the work modules, not FastStream, Redis or OpenTelemetry.
"""

from __future__ import annotations

import os
import signal
import threading
import time

ORPHAN_CHECK_S = 1.0


def _exit_when_orphaned(parent: int) -> None:
    while True:
        time.sleep(ORPHAN_CHECK_S)
        if os.getppid() != parent:
            os._exit(0)


def init_worker(max_pixels: int, parent: int) -> None:
    """Pool initializer. SIGINT/SIGTERM are ignored: the service stops its pool itself once its jobs have
    stopped (a Ctrl-C reaches the whole process group). The process exits if the service disappears."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True, name="orphan-watch").start()
    configure_libraries(max_pixels)


def configure_libraries(max_pixels: int) -> None:
    """Pillow's bomb limit and plugins, one OpenCV thread (the pool is the parallelism), work modules."""
    import cv2
    from PIL import Image

    cv2.setNumThreads(1)
    Image.MAX_IMAGE_PIXELS = max_pixels
    Image.init()
    import imaging.optimize
    import imaging.resize
    import imaging.storyboard
    import imaging.thumbnail  # noqa: F401


def ready() -> int:
    """A no-op call that makes the executor start a process."""
    return os.getpid()
