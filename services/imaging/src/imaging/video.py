"""Reading video frames with OpenCV's bundled FFmpeg: open, probe, and fetch frames by index.

Two ways to fetch a set of frames, chosen by the clip's length:

- sequential: one pass of `grab()` (demux and decode, no colour conversion) with `retrieve()` only at the
  wanted frames. Short clips often have a single keyframe (x264's default interval is 250 frames), so every
  seek would decode from the start again; one pass is 2–2.5× faster for them.
- seek: `CAP_PROP_POS_FRAMES` then `read()` per wanted frame; long videos have keyframes every few seconds,
  so each seek decodes only a short run. The position the seek reached is checked: past the end of a
  truncated file OpenCV hands back the last frame it could decode, which is not the one asked for.

The capture is opened with FFmpeg restricted to the demuxers of the containers `imaging.inputs` admits and to
local protocols (`jobcommon.ffmpeg_inputs`), a second fence behind the magic-byte check (a playlist would
need the hls/concat demuxer).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self, cast

import cv2
import numpy as np
import numpy.typing as npt

from imaging.decode import check_pixels
from imaging.errors import CORRUPT, BadMedia
from imaging.inputs import VIDEO_CONTAINERS
from jobcommon.ffmpeg_inputs import restrict_opencv

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

    from imaging.work import CancelToken

Frame = npt.NDArray[np.uint8]
"""A BGR frame as OpenCV returns it."""


def as_frame(array: object) -> Frame:
    """OpenCV's result typed as what it is (8-bit BGR for decoded video)."""
    return cast("Frame", array)


CHECK_EVERY = 8
"""Frames between two looks at the cancel token in a sequential pass."""
SEEK_SLACK_S = 0.1
"""How far (in seconds, at least one frame) the position a seek reached may be from its target for the frame
to count as the target's. OpenCV's seeks land exactly in intact files (it decodes on from the keyframe
before); in a truncated or damaged one a seek past the data ends where decoding failed, far from its target.
"""
MAX_COUNTED_FRAMES = 2_000_000


def _restrict_ffmpeg() -> None:
    # Read by OpenCV at each open; checked per open in case something in the process changed it.
    restrict_opencv(VIDEO_CONTAINERS)


@dataclass(frozen=True, slots=True)
class VideoProps:
    width: int
    height: int
    fps: float
    frames: int
    """Frame count (from the container, or counted when it does not say)."""

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    def index_at(self, seconds: float) -> int:
        """The frame shown at `seconds` (clamped to the last frame)."""
        position = seconds * self.fps + 1e-6
        if not position < self.frames:  # past the end (also infinity, whose floor is no int)
            return max(0, self.frames - 1)
        return max(0, math.floor(position))

    def time_of(self, index: int) -> float:
        return round(index / self.fps, 3)


class Video:
    """An open video file; use as a context manager."""

    def __init__(self, path: Path, label: str, token: CancelToken) -> None:
        self.label = label
        self.token = token
        self._path = path
        _restrict_ffmpeg()
        self._cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise BadMedia(CORRUPT, f"{label}: the video cannot be opened (corrupt or unsupported codec)")
        self.props = self._probe()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            self._cap.release()

    def _probe(self) -> VideoProps:
        cap = self._cap
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width <= 0 or height <= 0:
            raise BadMedia(CORRUPT, f"{self.label}: no video stream")
        check_pixels((width, height), self.label)
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 25.0
        frames = float(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        count = int(frames) if math.isfinite(frames) and frames > 0 else self._count_frames()
        if count <= 0:
            raise BadMedia(CORRUPT, f"{self.label}: no decodable video frames")
        return VideoProps(width, height, fps, count)

    def _count_frames(self) -> int:
        """Count frames by grabbing through the file (containers that do not say), then rewind."""
        count = 0
        while count < MAX_COUNTED_FRAMES and self._cap.grab():
            count += 1
            if count % CHECK_EVERY == 0:
                self.token.check()
        self._reopen()
        return count

    def _reopen(self) -> None:
        self._cap.release()
        _restrict_ffmpeg()
        self._cap = cv2.VideoCapture(str(self._path), cv2.CAP_FFMPEG)

    def frames(self, indices: list[int], *, sequential: bool) -> Iterator[tuple[int, Frame]]:
        """The frames at `indices` (ascending, as found); frames that cannot be read are left out."""
        wanted = sorted(set(indices))
        if not wanted:
            return
        try:
            if sequential:
                yield from self._sequential(wanted)
            else:
                yield from self._seeking(wanted)
        except cv2.error as exc:
            raise BadMedia(CORRUPT, f"{self.label}: cannot decode the video ({exc.msg})") from None

    def _sequential(self, wanted: list[int]) -> Iterator[tuple[int, Frame]]:
        self._rewind()
        targets = iter(wanted)
        target = next(targets)
        index = 0
        while self._cap.grab():
            if index % CHECK_EVERY == 0:
                self.token.check()
            if index == target:
                ok, frame = self._cap.retrieve()
                if ok and frame is not None:
                    yield index, as_frame(frame)
                nxt = next(targets, None)
                if nxt is None:
                    return
                target = nxt
            index += 1

    def _seeking(self, wanted: list[int]) -> Iterator[tuple[int, Frame]]:
        slack = max(1, round(SEEK_SLACK_S * self.props.fps))
        stopped_at: int | None = None
        for index in wanted:
            self.token.check()
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = self._cap.read()
            if not ok or frame is None:
                continue
            # Past the data a seek stops where decoding failed and `read()` returns the last frame decoded
            # there, whatever the target: keep a frame only if it was read at (or next to) its index.
            reached = round(self._cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1
            if abs(reached - index) <= slack:
                stopped_at = None
                yield index, as_frame(frame)
            elif reached < index:
                if reached == stopped_at:
                    return  # two seeks in a row ended at the same frame: the data ends there
                stopped_at = reached

    def _rewind(self) -> None:
        if self._cap.get(cv2.CAP_PROP_POS_FRAMES) > 0:
            self._reopen()

    def decodable_frames(self) -> int:
        """How many frames really decode (for containers whose frame count overstates): one grab pass."""
        self._rewind()
        return self._count_frames()
