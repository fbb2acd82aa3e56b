"""yt-dlp's progress hook in the child: rate-limited `ProgressEvent`s, and the checks that must run while the
bytes arrive (size limit, free disk, bandwidth share, a file shorter than announced)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from downloader.child_protocol import ChildEvent, ProgressEvent, Stage
from downloader.child_spans import PostprocessorSpans
from downloader.disk import free_space
from downloader.failures import FileTooLargeError, InsufficientSpaceError
from downloader.preprocessors import OWN_PREPROCESSORS
from jobcommon.ytdlp.values import as_float, as_int, as_str

if TYPE_CHECKING:
    from collections.abc import Callable

    from downloader.throttle import Throttle

PROGRESS_INTERVAL = 0.2
"""Minimum seconds between two progress lines (the first and the ``finished`` one always go out)."""
UNSIZED_SPACE_CHECK_BYTES = 64 * 1024 * 1024
"""A file of unannounced size (a live or endless stream) has the free disk checked again after this many
bytes each time."""


class ProgressTracker:
    """The progress hook: rate-limited `ProgressEvent`s, size and disk limits, bandwidth, truncation check."""

    def __init__(
        self,
        emit: Callable[[ChildEvent], None],
        max_filesize: int | None,
        clock: Callable[[], float] = time.monotonic,
        *,
        throttle: Throttle | None = None,
        disk_path: str | None = None,
        min_free_bytes: int = 0,
    ) -> None:
        self._emit = emit
        self._clock = clock
        self._max_filesize = max_filesize
        self._throttle = throttle
        self._disk_path = disk_path
        self._min_free_bytes = min_free_bytes
        self._last_emit: float | None = None
        self._last_bytes: dict[str, int] = {}
        self._space_checked: set[str] = set()
        self._unsized_checked: dict[str, int] = {}
        self.stage: Stage | None = None
        self.expected_sizes: dict[str, int] = {}
        self.truncated: str | None = None
        self._postprocessor_spans = PostprocessorSpans()

    def reset(self) -> None:
        self.expected_sizes.clear()
        self._last_bytes.clear()
        self._space_checked.clear()
        self._unsized_checked.clear()
        self.truncated = None

    def set_stage(self, stage: Stage) -> None:
        if stage != self.stage:
            self.stage = stage
            self._emit(ProgressEvent(stage=stage))

    def postprocessor_hook(self, d: dict[str, Any]) -> None:
        if d.get("status") == "started" and d.get("postprocessor") not in OWN_PREPROCESSORS:
            self.set_stage("postprocessing")
        self._postprocessor_spans.hook(d.get("status"), d.get("postprocessor"))

    def __call__(self, d: dict[str, Any]) -> None:
        status = d.get("status")
        if status not in ("downloading", "finished"):
            return
        downloaded = as_int(d.get("downloaded_bytes"))
        total = as_int(d.get("total_bytes"))
        filename = as_str(d.get("filename"))
        if status == "downloading" and total is not None and filename is not None:
            self.expected_sizes[filename] = total
        limit = self._max_filesize
        if limit is not None and max(downloaded or 0, total or 0) > limit:
            raise FileTooLargeError(f"the media is larger than the limit of {limit} bytes")
        if status == "downloading":
            self.stage = "downloading"
            self._check_space(filename, downloaded, total)
            self._pace(filename, downloaded)
        if status == "finished" and filename is not None:
            self._check_complete(filename)

        now = self._clock()
        throttled = self._last_emit is not None and now - self._last_emit < PROGRESS_INTERVAL
        if status == "downloading" and throttled:
            return
        self._last_emit = now
        self._emit(
            ProgressEvent(
                downloaded_bytes=downloaded,
                total_bytes=total if total is not None else as_int(d.get("total_bytes_estimate")),
                speed=as_float(d.get("speed")),
                eta=as_float(d.get("eta")),
                fragment_index=as_int(d.get("fragment_index")),
                fragment_count=as_int(d.get("fragment_count")),
            )
        )

    def _pace(self, filename: str | None, downloaded: int | None) -> None:
        if self._throttle is None or downloaded is None:
            return
        key = filename or ""
        last = self._last_bytes.get(key)
        self._last_bytes[key] = downloaded
        if last is not None and downloaded > last:
            self._throttle.consume(downloaded - last)

    def _check_space(self, filename: str | None, downloaded: int | None, total: int | None) -> None:
        """A file of announced size: once, whether the rest of it fits. One of unannounced size: after every
        UNSIZED_SPACE_CHECK_BYTES, whether MEDIA_ROOT still has `min_free_bytes` free (an endless stream
        would otherwise fill the disk up to the size limit)."""
        if self._disk_path is None or not self._min_free_bytes:
            return
        key, done = filename or "", downloaded or 0
        if total is not None:
            if key in self._space_checked:
                return
            self._space_checked.add(key)
            remaining = max(0, total - done)
            free = free_space(self._disk_path)
            if free - remaining < self._min_free_bytes:
                raise InsufficientSpaceError(
                    f"not enough disk space: {remaining} more bytes needed, {free} free, "
                    f"{self._min_free_bytes} must stay free"
                )
            return
        if done - self._unsized_checked.get(key, 0) < UNSIZED_SPACE_CHECK_BYTES:
            return
        self._unsized_checked[key] = done
        free = free_space(self._disk_path)
        if free < self._min_free_bytes:
            raise InsufficientSpaceError(
                f"disk space ran low during a download of unannounced size ({done} bytes so far): {free} "
                f"free, {self._min_free_bytes} must stay free"
            )

    def _check_complete(self, filename: str) -> None:
        expected = self.expected_sizes.get(filename)
        if expected is None:
            return
        try:
            actual = os.path.getsize(filename)
        except OSError:
            return  # already moved; the final check looks at the result
        if actual != expected:
            self.truncated = f"downloaded {actual} bytes, but the server announced {expected} bytes"
