"""The `image_optimize` work: re-encode one image (same format or another) with quality settings.

The image is decoded at full size and turned upright (so stripping EXIF cannot leave it sideways), then
encoded with the extra effort of each format (optimised Huffman tables and progressive JPEG, WebP method 6,
slower AVIF speed, optimised PNG). The result reports the bytes before and after. An image wider or taller
than the output format holds (WebP: 16383 px) fails before its pixels are decoded (`check_sides`).

An animated source keeps every frame, its durations and loop count, in a format that holds an animation (WebP,
PNG as APNG, AVIF; `keep` writes a GIF as APNG); JPEG, which holds one frame, is refused
(``AnimationNotSupported``) rather than reporting bytes "saved" by dropping frames. Every frame is held
until the animation is encoded, so an animation is optimized only within the budget of an animated resize
(`MAX_ANIMATED_OUTPUT_PIXELS` over all its frames, checked before its second frame is decoded): past it the
source fails as ``OutputTooLarge``, pointing to a smaller animated resize or a thumbnail.
"""

from __future__ import annotations

import os

from imaging import colour
from imaging.decode import PILLOW_DECODERS, open_image
from imaging.encode import PILLOW_NAMES, Written, file_name, save, save_animation
from imaging.errors import OUTPUT_TOO_LARGE, BadMedia
from imaging.geometry import plan
from imaging.inputs import admit
from imaging.output_caps import MAX_ANIMATED_OUTPUT_PIXELS, check_sides
from imaging.resize import animated_outputs, kept_metadata, output_format
from imaging.results import OptimizeResult
from imaging.work import Work
from jobcommon import ImageOptimizeRequest, span_records


def render(work: Work, request: ImageOptimizeRequest) -> OptimizeResult:
    sniffed = admit(work.input, work.source, accept=frozenset({"image"}))
    fmt = output_format(request.format, PILLOW_DECODERS[sniffed.container or ""])
    with span_records.span("imaging decode", **{"mediajobs.source.kind": "image"}):
        decoded = open_image(
            work.input,
            sniffed,
            work.source,
            check_size=lambda size: check_sides([size], fmt, work.source),
            animation_to=fmt,
        )
    name = file_name("optimized", fmt)
    keep_profile = not request.strip_metadata
    animation = decoded.animation
    if animation is None:
        prepared = colour.working(decoded.image, decoded.icc_profile, keep_profile=keep_profile)
        image = colour.for_format(prepared.image, fmt)
        work.token.check()
        with span_records.span("imaging encode", **{"mediajobs.image.format": str(fmt)}):
            nbytes = save(
                image,
                work.output(name),
                fmt,
                quality=request.quality,
                metadata=kept_metadata(decoded, prepared.icc_profile, strip=request.strip_metadata),
                effort="small",
            )
        written = Written(nbytes, frames=1, duration_ms=0, loop=None)
    else:
        try:
            check_animation_budget(decoded.size, animation.frames, work.source)
            whole = plan(decoded.size, decoded.size, "fit")
            made = animated_outputs(
                work, decoded, animation, [whole], fmt, colour.WHITE, keep_profile=keep_profile
            )
        finally:
            animation.close()
        with span_records.span("imaging encode", **{"mediajobs.image.format": str(fmt)}):
            written = save_animation(
                made.outputs[0],
                made.durations,
                animation.loop,
                work.output(name),
                fmt,
                label=work.source,
                quality=request.quality,
                metadata=kept_metadata(decoded, made.icc_profile, strip=request.strip_metadata),
                effort="small",
            )
    before, after = os.path.getsize(work.input), written.bytes
    return OptimizeResult(
        path=work.result_path(name),
        source=work.source,
        source_format=decoded.format,
        source_frames=animation.frames if animation is not None else 1,
        format=PILLOW_NAMES[fmt],
        width=decoded.size[0],
        height=decoded.size[1],
        frames=written.frames,
        duration_ms=written.duration_ms if animation is not None else None,
        loop=written.loop,
        bytes_before=before,
        bytes_after=after,
        bytes_saved=before - after,
        saved_percent=round(100.0 * (before - after) / before, 2) if before else 0.0,
        metadata_stripped=request.strip_metadata,
    )


def check_animation_budget(size: tuple[int, int], frames: int, label: str) -> None:
    """Raise `BadMedia` (``OutputTooLarge``) when `frames` frames of `size` are more pixels than an animated
    resize may write (`MAX_ANIMATED_OUTPUT_PIXELS`): each is held, decoded, until the animation is encoded (a
    52 KB GIF of 2,000 frames of 200x200 took 375 MB)."""
    width, height = size
    total = frames * width * height
    if total > MAX_ANIMATED_OUTPUT_PIXELS:
        raise BadMedia(
            OUTPUT_TOO_LARGE,
            f"{label}: {frames} frames of {width}x{height} would be {total} output pixels; an animated "
            f"optimize writes at most {MAX_ANIMATED_OUTPUT_PIXELS} pixels over all its frames (an animated "
            f"image_resize to at most {MAX_ANIMATED_OUTPUT_PIXELS // frames} pixels a frame keeps the "
            "animation; a thumbnail job takes its first frame)",
        )
