"""One download in the child: yt-dlp with the job's limits, resumed when safe, verified at the end."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from downloader.external_fetchers import forbid_external_fetchers
from downloader.failures import is_range_not_satisfiable
from downloader.ffmpeg_fences import fence_probes
from downloader.outputs import finished_download
from downloader.preprocessors import make_preprocessors
from downloader.progress_hook import ProgressTracker
from downloader.resume import ResumeGuard, wipe
from downloader.ytdlp_params import build_params
from jobcommon.netguard import check_url_scheme
from jobcommon.ytdlp.logger import QuietLogger

if TYPE_CHECKING:
    from collections.abc import Callable

    from downloader.child_protocol import ChildEvent, ChildSpec, DoneEvent
    from downloader.throttle import Throttle


def _run_ytdlp(
    spec: ChildSpec, tracker: ProgressTracker, logger: QuietLogger, guard: ResumeGuard, *, continuedl: bool
) -> Any:
    import yt_dlp

    params = build_params(spec, tracker, logger)
    params["continuedl"] = continuedl
    params["postprocessor_hooks"] = [tracker.postprocessor_hook]
    with yt_dlp.YoutubeDL(params) as ydl:
        for pp, when in make_preprocessors(spec, guard):
            ydl.add_post_processor(pp, when=when)
        return ydl.extract_info(spec.url, download=True)


def download(
    spec: ChildSpec, emit: Callable[[ChildEvent], None], throttle: Throttle | None = None
) -> DoneEvent:
    """Run the download described by ``spec`` in this process. Raises on failure."""
    check_url_scheme(spec.url)
    if not spec.allow_private_networks:
        forbid_external_fetchers()
    fence_probes()
    from yt_dlp.utils import YoutubeDLError

    os.makedirs(spec.output_dir, exist_ok=True)
    os.makedirs(spec.temp_dir, exist_ok=True)
    logger = QuietLogger()
    tracker = ProgressTracker(
        emit,
        spec.max_filesize,
        throttle=throttle,
        disk_path=spec.temp_dir,
        min_free_bytes=spec.min_free_bytes,
    )
    guard = ResumeGuard(spec.temp_dir)
    tracker.set_stage("extracting")
    try:
        info = _run_ytdlp(spec, tracker, logger, guard, continuedl=True)
    except YoutubeDLError as exc:
        if not is_range_not_satisfiable(exc):
            raise
        # A complete (or stale) .part makes every resume fail with 416 (yt-dlp#12994): start over once.
        print("HTTP 416 on resume: wiping temp_dir, downloading from scratch", file=sys.stderr, flush=True)
        wipe(Path(spec.temp_dir))
        tracker.reset()
        guard.reset()
        info = _run_ytdlp(spec, tracker, logger, guard, continuedl=False)
    return finished_download(spec, info, tracker, logger, guard)
