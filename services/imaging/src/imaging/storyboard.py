"""The `storyboard` work: a tile every `interval_s` seconds on sprite sheets, plus a WebVTT index.

Tile i shows the frame at `i * interval_s` and its cue covers [i * interval_s, (i + 1) * interval_s),
the last one ending with the video. Sheets hold `columns × max_rows` tiles (fewer rows if a sheet would
pass the format's side limit or `MAX_OUTPUT_PIXELS`); each sheet is written as soon as its tiles are in, so a
long video never holds more than one sheet in memory. Tiles taller than `MAX_TILE_HEIGHT` (a tall video)
and sheets past `MAX_JOB_OUTPUT_PIXELS` together (a long video, a short interval) fail the source before its
tiles are read. A frame that cannot be read repeats the tile before it; tiles past the
last readable frame are dropped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from imaging import colour, webvtt
from imaging.encode import PILLOW_NAMES, file_name, save
from imaging.errors import CORRUPT, OUTPUT_TOO_LARGE, TOO_MANY_TILES, BadMedia
from imaging.inputs import admit
from imaging.output_caps import check_outputs
from imaging.results import ImageFile, StoryboardResult
from imaging.thumbnail import video_info
from imaging.video import Frame, Video, VideoProps, as_frame
from imaging.work import Work
from jobcommon import span_records
from jobcommon.requests.imaging import (
    MAX_OUTPUT_PIXELS,
    MAX_SHEET_SIDE,
    MAX_TILE_HEIGHT,
    StoryboardRequest,
)

VTT_NAME = "storyboard.vtt"


@dataclass
class _Sheets:
    """Places tiles in order and writes each sheet once it is complete."""

    work: Work
    request: StoryboardRequest
    tiles: int
    tile_size: tuple[int, int]
    per_sheet: int
    written: list[ImageFile] = field(default_factory=list)
    cues: list[webvtt.Cue] = field(default_factory=list)
    _canvas: npt.NDArray[np.uint8] | None = None
    _placed: int = 0
    _last: Frame | None = None

    def place(self, first: int, last: int, tile: Frame) -> None:
        """Put `tile` in slots `first`..`last`; slots missed before them repeat the previous tile."""
        while self._placed < first:
            self._put(tile if self._last is None else self._last)
        while self._placed <= last:
            self._put(tile)
        self._last = tile

    def _put(self, tile: Frame) -> None:
        index = self._placed
        sheet, at = divmod(index, self.per_sheet)
        columns = self.request.columns
        width, height = self.tile_size
        if at == 0:
            count = min(self.per_sheet, self.tiles - index)
            rows = math.ceil(count / columns)
            self._canvas = np.zeros((rows * height, min(columns, count) * width, 3), dtype=np.uint8)
        assert self._canvas is not None
        row, col = divmod(at, columns)
        x, y = col * width, row * height
        self._canvas[y : y + height, x : x + width] = tile
        interval = self.request.interval_s
        self.cues.append(
            webvtt.Cue(index * interval, (index + 1) * interval, self._name(sheet), x, y, width, height)
        )
        self._placed += 1
        if at + 1 == self.per_sheet or self._placed == self.tiles:
            self._flush(sheet)

    def finish(self, duration: float) -> None:
        """Write a partly filled last sheet (tiles past the readable end are dropped); end the last cue."""
        in_sheet = self._placed % self.per_sheet
        if self._canvas is not None and in_sheet:
            columns = self.request.columns
            rows = math.ceil(in_sheet / columns)
            width = min(columns, in_sheet) * self.tile_size[0]
            self._canvas = self._canvas[: rows * self.tile_size[1], :width]
            self._flush((self._placed - 1) // self.per_sheet)
        if self.cues:
            last = self.cues[-1]
            end = max(last.start + 0.001, min(last.end, duration))
            self.cues[-1] = webvtt.Cue(last.start, end, last.sheet, last.x, last.y, last.width, last.height)

    def _name(self, sheet: int) -> str:
        return file_name(f"storyboard_{sheet:03d}", self.request.format)

    def _flush(self, sheet: int) -> None:
        assert self._canvas is not None
        self.work.token.check()
        fmt = self.request.format
        rgb = cv2.cvtColor(np.ascontiguousarray(self._canvas), cv2.COLOR_BGR2RGB)
        image = colour.for_format(Image.fromarray(rgb), fmt)
        name = self._name(sheet)
        with span_records.span("imaging encode", **{"mediajobs.image.sheet": sheet}):
            nbytes = save(image, self.work.output(name), fmt, quality=self.request.quality)
        self.written.append(
            ImageFile(
                path=self.work.result_path(name),
                format=PILLOW_NAMES[fmt],
                width=image.width,
                height=image.height,
                bytes=nbytes,
            )
        )
        self._canvas = None


def _tile_size(work: Work, request: StoryboardRequest, props: VideoProps) -> tuple[int, int]:
    """`tile_width` by the height the video's aspect ratio gives it; raises past `MAX_TILE_HEIGHT`."""
    tile_w = request.tile_width
    tile_h = max(1, round(tile_w * props.height / props.width))
    if tile_h > MAX_TILE_HEIGHT:
        raise BadMedia(
            OUTPUT_TOO_LARGE,
            f"{work.source}: tiles {tile_w} px wide would be {tile_h} px tall for this "
            f"{props.width}x{props.height} video; at most {MAX_TILE_HEIGHT} (use a smaller tile_width)",
        )
    return tile_w, tile_h


def _sheet_sizes(tiles: int, columns: int, per_sheet: int, tile: tuple[int, int]) -> list[tuple[int, int]]:
    """(width, height) of each sheet: full ones, then the last with the tiles left (its last row partly
    filled)."""
    sizes = []
    for first in range(0, tiles, per_sheet):
        count = min(per_sheet, tiles - first)
        sizes.append((min(columns, count) * tile[0], math.ceil(count / columns) * tile[1]))
    return sizes


def _layout(
    work: Work, request: StoryboardRequest, props: VideoProps, tiles: int
) -> tuple[tuple[int, int], int]:
    """Tile size and rows per sheet: within the format's side limit and the pixel caps, else `BadMedia`."""
    tile_w, tile_h = _tile_size(work, request, props)
    sheet_w = min(request.columns, tiles) * tile_w
    rows = max(1, min(request.max_rows, MAX_SHEET_SIDE // tile_h, MAX_OUTPUT_PIXELS // (sheet_w * tile_h)))
    sizes = _sheet_sizes(tiles, request.columns, request.columns * rows, (tile_w, tile_h))
    check_outputs(sizes, work.source, advice="use a longer interval_s or a smaller tile_width")
    return (tile_w, tile_h), rows


def render(work: Work, request: StoryboardRequest) -> StoryboardResult:
    admit(work.input, work.source, accept=frozenset({"video"}))
    with Video(work.input, work.source, work.token) as video:
        props = video.props
        duration = props.duration
        tiles = max(1, math.ceil(duration / request.interval_s - 1e-9))
        if tiles > work.tuning.max_storyboard_tiles:
            raise BadMedia(
                TOO_MANY_TILES,
                f"{work.source}: {tiles} tiles at {request.interval_s:g} s over {duration:.0f} s; "
                f"at most {work.tuning.max_storyboard_tiles} (use a longer interval_s)",
            )
        (tile_w, tile_h), rows = _layout(work, request, props, tiles)
        sheets = _Sheets(work, request, tiles, (tile_w, tile_h), request.columns * rows)
        slots: dict[int, list[int]] = defaultdict(list)
        for slot in range(tiles):
            slots[props.index_at(slot * request.interval_s)].append(slot)
        last_index = -1
        sequential = duration < work.tuning.sequential_max_s
        for index, frame in video.frames(list(slots), sequential=sequential):
            tile = as_frame(cv2.resize(frame, (tile_w, tile_h), interpolation=cv2.INTER_AREA))
            sheets.place(slots[index][0], slots[index][-1], tile)
            last_index = index
        if last_index < 0:
            raise BadMedia(CORRUPT, f"{work.source}: no decodable video frames")
        readable = duration if last_index == max(slots) else (last_index + 1) / props.fps
        sheets.finish(readable)
    vtt = webvtt.render(sheets.cues)
    work.output(VTT_NAME).write_text(vtt, encoding="utf-8")
    return StoryboardResult(
        path=work.result_path(VTT_NAME),
        vtt=work.result_path(VTT_NAME),
        sprites=sheets.written,
        tiles=len(sheets.cues),
        tile_width=tile_w,
        tile_height=tile_h,
        columns=min(request.columns, len(sheets.cues)),
        rows=max(math.ceil(min(len(sheets.cues), sheets.per_sheet) / request.columns), 1),
        interval_s=request.interval_s,
        video=video_info(props),
    )
