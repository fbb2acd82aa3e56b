"""The `image_resize` work: one image to several sizes (fit, fill or pad), decoded once.

The decode uses JPEG draft mode at the smallest scale that still covers the most demanding spec, then
turns the image upright per EXIF; every output's geometry is computed from the full upright size, and checked
against the pixel caps and the output format's side limit (`imaging.output_caps`) before anything is
resampled.
"""

from __future__ import annotations

from typing import Literal

from imaging import colour
from imaging.decode import Decoded, open_image
from imaging.encode import KEEP, PILLOW_NAMES, STRIPPED, Metadata, OutputFormat, file_name, save
from imaging.geometry import Plan, plan
from imaging.inputs import admit
from imaging.output_caps import check_outputs, check_sides
from imaging.results import ResizedImage, ResizeResult
from imaging.work import Work
from jobcommon import ImageResizeRequest, ResizeSpec, span_records


def _plans(size: tuple[int, int], specs: list[ResizeSpec]) -> list[Plan]:
    return [plan(size, (s.width, s.height), s.mode, upscale=s.upscale) for s in specs]


def kept_metadata(decoded: Decoded, icc_profile: bytes | None, *, strip: bool) -> Metadata:
    if strip:
        return STRIPPED
    return Metadata(icc_profile=icc_profile, exif=decoded.exif, xmp=decoded.xmp)


def output_format(requested: OutputFormat | Literal["keep"], source_format: str) -> OutputFormat:
    """The format to write: as requested, or for `keep` the source's (PNG for GIF and TIFF)."""
    return KEEP[source_format] if requested == "keep" else requested


def render(work: Work, request: ImageResizeRequest) -> ResizeResult:
    sniffed = admit(work.input, work.source, accept=frozenset({"image"}))
    specs = request.specs

    def needed(size: tuple[int, int]) -> tuple[int, int]:
        sizes = [p.decode_at_least for p in _plans(size, specs)]
        return max(w for w, _ in sizes), max(h for _, h in sizes)

    with span_records.span("imaging decode", **{"mediajobs.source.kind": "image"}):
        decoded = open_image(work.input, sniffed, work.source, needed=needed)
    plans = _plans(decoded.size, specs)
    check_outputs((p.canvas for p in plans), work.source, advice="ask for smaller specs")
    fmt = output_format(request.format, decoded.format)
    check_sides((p.canvas for p in plans), fmt, work.source)  # specs are ≤ 10000 px a side: a safeguard
    prepared = colour.working(decoded.image, decoded.icc_profile, keep_profile=not request.strip_metadata)
    metadata = kept_metadata(decoded, prepared.icc_profile, strip=request.strip_metadata)
    background = colour.background_for(fmt, colour.parse_colour(request.background))
    outputs: list[ResizedImage] = []
    for spec, geometry in zip(specs, plans, strict=True):
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
    return ResizeResult(
        path=outputs[0].path,
        source=work.source,
        source_format=decoded.format,
        source_width=decoded.size[0],
        source_height=decoded.size[1],
        orientation=decoded.orientation,
        metadata_stripped=request.strip_metadata,
        outputs=outputs,
    )
