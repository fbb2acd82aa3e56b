"""The `image_resize` work: one image to several sizes (fit, fill or pad), decoded once.

The decode uses JPEG draft mode at the smallest scale that still covers the most demanding spec, then
turns the image upright per EXIF; every output's geometry is computed from the full upright size, and checked
against the pixel caps and the output format's side limit (`imaging.output_caps`) before anything is
resampled.

An animated source (GIF, WebP, APNG, AVIF) stays animated: every frame is resized into each output, with its
duration and the loop count, when the output format holds an animation (WebP, PNG as APNG, AVIF); into JPEG,
which does not, it is refused (``AnimationNotSupported``: a thumbnail job takes its first frame). All its
frames together are within the decompression-bomb limit (`imaging.animation`) and count towards the job's
output cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from imaging import colour
from imaging.decode import PILLOW_DECODERS, Decoded, open_image
from imaging.encode import (
    KEEP,
    PILLOW_NAMES,
    STRIPPED,
    Metadata,
    OutputFormat,
    file_name,
    save,
    save_animation,
)
from imaging.geometry import Plan, plan
from imaging.inputs import admit
from imaging.output_caps import check_animated_outputs, check_outputs, check_sides
from imaging.results import ResizedImage, ResizeResult
from imaging.work import Work
from jobcommon import ImageResizeRequest, ResizeSpec, span_records

if TYPE_CHECKING:
    from PIL import Image

    from imaging.animation import Animation


def _plans(size: tuple[int, int], specs: list[ResizeSpec]) -> list[Plan]:
    return [plan(size, (s.width, s.height), s.mode, upscale=s.upscale) for s in specs]


def kept_metadata(decoded: Decoded, icc_profile: bytes | None, *, strip: bool) -> Metadata:
    if strip:
        return STRIPPED
    return Metadata(icc_profile=icc_profile, exif=decoded.exif, xmp=decoded.xmp)


def output_format(requested: OutputFormat | Literal["keep"], source_format: str) -> OutputFormat:
    """The format to write: as requested, or for `keep` the source's (PNG for GIF and TIFF)."""
    return KEEP[source_format] if requested == "keep" else requested


@dataclass(frozen=True, slots=True)
class Frames:
    """An animation's outputs made from every frame of its source: one list of frames per plan."""

    outputs: list[list[Image.Image]]
    durations: list[int]
    icc_profile: bytes | None
    """The profile describing the output pixels (to embed when metadata is kept)."""


def animated_outputs(
    work: Work,
    decoded: Decoded,
    animation: Animation,
    plans: list[Plan],
    fmt: OutputFormat,
    background: colour.RGBA,
    *,
    keep_profile: bool,
) -> Frames:
    """Each frame of `animation`, read once, resampled (and padded) per plan into `fmt`'s mode."""
    outputs: list[list[Image.Image]] = [[] for _ in plans]
    durations: list[int] = []
    icc_profile = decoded.icc_profile
    attributes = {"mediajobs.image.frames": animation.frames, "mediajobs.image.outputs": len(plans)}
    with span_records.span("imaging frames", **attributes):
        for frame in animation.each(work.token):
            prepared = colour.working(frame.image, decoded.icc_profile, keep_profile=keep_profile)
            icc_profile = prepared.icc_profile
            durations.append(frame.duration_ms)
            for geometry, frames in zip(plans, outputs, strict=True):
                image = colour.resample(prepared.image, geometry.scaled, geometry.region)
                image = colour.pad(image, geometry.canvas, geometry.offset, background)
                frames.append(colour.for_format(image, fmt, background))
    return Frames([_opaque(frames) for frames in outputs], durations, icc_profile)


def _opaque(frames: list[Image.Image]) -> list[Image.Image]:
    """The frames without their alpha channel when no frame has a transparent pixel, else as they are. Each
    frame is replaced in place, so that no more than one extra frame is held at a time."""
    if all(f.mode == "RGBA" and f.getchannel("A").getextrema() == (255, 255) for f in frames):
        for index, frame in enumerate(frames):
            frames[index] = frame.convert("RGB")
            frame.close()
    return frames


def render(work: Work, request: ImageResizeRequest) -> ResizeResult:
    sniffed = admit(work.input, work.source, accept=frozenset({"image"}))
    specs = request.specs
    fmt = output_format(request.format, PILLOW_DECODERS[sniffed.container or ""])

    def needed(size: tuple[int, int]) -> tuple[int, int]:
        sizes = [p.decode_at_least for p in _plans(size, specs)]
        return max(w for w, _ in sizes), max(h for _, h in sizes)

    with span_records.span("imaging decode", **{"mediajobs.source.kind": "image"}):
        decoded = open_image(work.input, sniffed, work.source, needed=needed, animation_to=fmt)
    animation = decoded.animation
    try:
        plans = _plans(decoded.size, specs)
        frames = animation.frames if animation is not None else 1
        check_outputs((p.canvas for p in plans), work.source, advice="ask for smaller specs", frames=frames)
        check_sides((p.canvas for p in plans), fmt, work.source)  # specs are ≤ 10000 px a side: a safeguard
        if animation is None:
            outputs = _stills(work, request, decoded, plans, fmt)
        else:
            check_animated_outputs((p.canvas for p in plans), frames, work.source)
            outputs = _animations(work, request, decoded, animation, plans, fmt)
    finally:
        if animation is not None:
            animation.close()
    return ResizeResult(
        path=outputs[0].path,
        source=work.source,
        source_format=decoded.format,
        source_width=decoded.size[0],
        source_height=decoded.size[1],
        orientation=decoded.orientation,
        source_frames=frames,
        metadata_stripped=request.strip_metadata,
        outputs=outputs,
    )


def _stills(
    work: Work, request: ImageResizeRequest, decoded: Decoded, plans: list[Plan], fmt: OutputFormat
) -> list[ResizedImage]:
    prepared = colour.working(decoded.image, decoded.icc_profile, keep_profile=not request.strip_metadata)
    metadata = kept_metadata(decoded, prepared.icc_profile, strip=request.strip_metadata)
    background = colour.background_for(fmt, colour.parse_colour(request.background))
    outputs: list[ResizedImage] = []
    for spec, geometry in zip(request.specs, plans, strict=True):
        with span_records.span("imaging encode", **{"mediajobs.image.name": spec.stem}):
            image = colour.resample(prepared.image, geometry.scaled, geometry.region)
            image = colour.pad(image, geometry.canvas, geometry.offset, background)
            image = colour.for_format(image, fmt, background)
            name = file_name(spec.stem, fmt)
            nbytes = save(image, work.output(name), fmt, quality=request.quality, metadata=metadata)
        outputs.append(
            ResizedImage(
                path=work.result_path(name),
                format=PILLOW_NAMES[fmt],
                width=image.width,
                height=image.height,
                bytes=nbytes,
                name=spec.stem,
                mode=spec.mode,
            )
        )
        work.token.check()
    return outputs


def _animations(
    work: Work,
    request: ImageResizeRequest,
    decoded: Decoded,
    animation: Animation,
    plans: list[Plan],
    fmt: OutputFormat,
) -> list[ResizedImage]:
    background = colour.background_for(fmt, colour.parse_colour(request.background))
    made = animated_outputs(
        work, decoded, animation, plans, fmt, background, keep_profile=not request.strip_metadata
    )
    metadata = kept_metadata(decoded, made.icc_profile, strip=request.strip_metadata)
    outputs: list[ResizedImage] = []
    for spec, geometry, frames in zip(request.specs, plans, made.outputs, strict=True):
        with span_records.span("imaging encode", **{"mediajobs.image.name": spec.stem}):
            name = file_name(spec.stem, fmt)
            written = save_animation(
                frames,
                made.durations,
                animation.loop,
                work.output(name),
                fmt,
                label=work.source,
                quality=request.quality,
                metadata=metadata,
            )
        outputs.append(
            ResizedImage(
                path=work.result_path(name),
                format=PILLOW_NAMES[fmt],
                width=geometry.canvas[0],
                height=geometry.canvas[1],
                bytes=written.bytes,
                name=spec.stem,
                mode=spec.mode,
                frames=written.frames,
                duration_ms=written.duration_ms,
                loop=written.loop,
            )
        )
        work.token.check()
    return outputs
