"""The `thumbnail` work: one source (video or image) to thumbnails of several sizes.

From a video: the frame at `at_s`, or the sharpest of `candidates` frames spread over 10–90 % of the clip
(`imaging.sharpness`; black and flat frames lose to any frame with content). Frames come from one
sequential pass for clips shorter than `Tuning.sequential_max_s`, else from seeks (`imaging.video`).
From an image: decoded in JPEG draft mode at the smallest scale that still covers the largest size (a JPEG
of up to `imaging.decode.DRAFT_HEADROOM` times the pixel limit too, when that scale is within the limit).
From an animated image (GIF, WebP, APNG, AVIF): its first frame, and the result says so (`animated`, `frame`
0); only that frame is decoded, so the limit on all frames together does not apply.
"""

from __future__ import annotations

import math

import cv2
from PIL import Image

from imaging import colour
from imaging.decode import open_image
from imaging.encode import PILLOW_NAMES, file_name, save
from imaging.errors import CORRUPT, BadMedia
from imaging.geometry import bounding
from imaging.inputs import admit
from imaging.output_caps import check_outputs
from imaging.results import Candidate, ImageFile, ThumbnailResult, VideoInfo
from imaging.sharpness import Sharpness, measure
from imaging.video import Frame, Video, VideoProps
from imaging.work import Work
from jobcommon import ThumbnailRequest, span_records

SPREAD = (0.1, 0.9)


def render(work: Work, request: ThumbnailRequest) -> ThumbnailResult:
    sniffed = admit(work.input, work.source)
    if sniffed.kind == "image":
        largest = max(request.sizes)
        with span_records.span("imaging decode", **{"mediajobs.source.kind": "image"}):
            decoded = open_image(
                work.input, sniffed, work.source, needed=lambda size: bounding(size, largest)
            )
            image = colour.working(decoded.image, decoded.icc_profile, keep_profile=False).image
        thumbs = _write(work, request, image, decoded.size)
        return ThumbnailResult(
            path=_largest(thumbs).path,
            source=work.source,
            source_kind="image",
            source_format=decoded.format,
            picked="image",
            animated=decoded.animated,
            frame=0 if decoded.animated else None,
            thumbnails=thumbs,
        )
    with Video(work.input, work.source, work.token) as video:
        with span_records.span("imaging decode", **{"mediajobs.source.kind": "video"}):
            props = video.props
        sequential = props.duration < work.tuning.sequential_max_s
        if request.at_s is not None:
            with span_records.span("imaging candidate frames", **{"mediajobs.frames.wanted": 1}):
                index, frame = _frame_at(video, props.index_at(request.at_s), sequential)
            with span_records.span("imaging sharpness", **{"mediajobs.frames.measured": 1}):
                chosen, candidates = (index, frame, measure(frame)), list[Candidate]()
        else:
            chosen, candidates = _sharpest(video, request.candidates, sequential)
    index, frame, sharp = chosen
    image = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    work.token.check()
    thumbs = _write(work, request, image, image.size)
    return ThumbnailResult(
        path=_largest(thumbs).path,
        source=work.source,
        source_kind="video",
        source_format=sniffed.container or "",
        picked="sharpest" if request.at_s is None else "at_s",
        time_s=props.time_of(index),
        clamped_from=_clamped_from(request.at_s, index, props),
        frame=index,
        sharpness=sharp.laplacian_var,
        candidates=candidates,
        video=video_info(props),
        thumbnails=thumbs,
    )


def _clamped_from(at_s: float | None, index: int, props: VideoProps) -> float | None:
    """`at_s` when the frame used is not the one shown then (the time is past the last frame, or past the
    last one that decodes, when the container overstates the video's length); else None."""
    if at_s is None:
        return None
    return at_s if index < math.floor(at_s * props.fps + 1e-6) else None


def video_info(props: VideoProps) -> VideoInfo:
    return VideoInfo(
        width=props.width,
        height=props.height,
        fps=round(props.fps, 3),
        frames=props.frames,
        duration_s=round(props.duration, 3),
    )


def candidate_indices(frames: int, k: int) -> list[int]:
    """`k` frame indices evenly spread over 10–90 % of the clip (the middle one when k = 1)."""
    low, high = SPREAD
    positions = [0.5] if k == 1 else [low + (high - low) * i / (k - 1) for i in range(k)]
    return sorted({min(frames - 1, int(p * frames)) for p in positions})


def _sharpest(video: Video, k: int, sequential: bool) -> tuple[tuple[int, Frame, Sharpness], list[Candidate]]:
    props = video.props
    with span_records.span(
        "imaging candidate frames", **{"mediajobs.frames.wanted": k, "mediajobs.sequential": sequential}
    ):
        found = list(video.frames(candidate_indices(props.frames, k), sequential=sequential))
        if not found:  # the container overstated its length, or seeks fail: take what decodes
            found = list(video.frames([0], sequential=True))
    if not found:
        raise BadMedia(CORRUPT, f"{video.label}: no decodable video frames")
    with span_records.span("imaging sharpness", **{"mediajobs.frames.measured": len(found)}):
        scored = [(index, frame, measure(frame)) for index, frame in found]
    best = max(scored, key=lambda s: s[2].score)
    candidates = [
        Candidate(time_s=props.time_of(i), frame=i, sharpness=s.laplacian_var, flat=s.flat)
        for i, _f, s in scored
    ]
    return best, candidates


def _frame_at(video: Video, index: int, sequential: bool) -> tuple[int, Frame]:
    found = list(video.frames([index], sequential=sequential))
    if not found:  # past the real end: the last frame that decodes
        last = video.decodable_frames() - 1
        if last >= 0:
            found = list(video.frames([min(index, last)], sequential=True))
    if not found:
        raise BadMedia(CORRUPT, f"{video.label}: no decodable video frames")
    return found[0]


def _write(
    work: Work, request: ThumbnailRequest, image: Image.Image, full_size: tuple[int, int]
) -> list[ImageFile]:
    fmt = request.format
    sizes = [bounding(full_size, size) for size in request.sizes]
    check_outputs(sizes, work.source)  # within the caps whatever the source (sizes ≤ 4096), checked anyway
    written: list[ImageFile] = []
    for size, scaled in zip(request.sizes, sizes, strict=True):
        encoding: dict[str, span_records.AttributeValue] = {
            "mediajobs.image.size": size,
            "mediajobs.image.format": str(fmt),
        }
        with span_records.span("imaging encode", **encoding):
            thumb = colour.for_format(colour.resample(image, scaled), fmt)
            name = file_name(f"thumb_{size}", fmt)
            nbytes = save(thumb, work.output(name), fmt, quality=request.quality)
        written.append(
            ImageFile(
                path=work.result_path(name),
                format=PILLOW_NAMES[fmt],
                width=thumb.width,
                height=thumb.height,
                bytes=nbytes,
            )
        )
        work.token.check()
    return written


def _largest(thumbs: list[ImageFile]) -> ImageFile:
    return max(thumbs, key=lambda t: t.width * t.height)
