"""The `image_optimize` work: re-encode one image (same format or another) with quality settings.

The image is decoded at full size and turned upright (so stripping EXIF cannot leave it sideways), then
encoded with the extra effort of each format (optimised Huffman tables and progressive JPEG, WebP method 6,
slower AVIF speed, optimised PNG). The result reports the bytes before and after. An image wider or taller
than the output format holds (WebP: 16383 px) fails before its pixels are decoded (`check_sides`).
"""

from __future__ import annotations

import os

from imaging import colour
from imaging.decode import PILLOW_DECODERS, open_image
from imaging.encode import PILLOW_NAMES, file_name, save
from imaging.inputs import admit
from imaging.output_caps import check_sides
from imaging.resize import kept_metadata, output_format
from imaging.results import OptimizeResult
from imaging.work import Work
from jobcommon import ImageOptimizeRequest, span_records


def render(work: Work, request: ImageOptimizeRequest) -> OptimizeResult:
    sniffed = admit(work.input, work.source, accept=frozenset({"image"}))
    before = os.path.getsize(work.input)
    fmt = output_format(request.format, PILLOW_DECODERS[sniffed.container or ""])
    with span_records.span("imaging decode", **{"mediajobs.source.kind": "image"}):
        decoded = open_image(
            work.input, sniffed, work.source, check_size=lambda size: check_sides([size], fmt, work.source)
        )
    prepared = colour.working(decoded.image, decoded.icc_profile, keep_profile=not request.strip_metadata)
    image = colour.for_format(prepared.image, fmt)
    work.token.check()
    name = file_name("optimized", fmt)
    with span_records.span("imaging encode", **{"mediajobs.image.format": str(fmt)}):
        after = save(
            image,
            work.output(name),
            fmt,
            quality=request.quality,
            metadata=kept_metadata(decoded, prepared.icc_profile, strip=request.strip_metadata),
            effort="small",
        )
    return OptimizeResult(
        path=work.result_path(name),
        source=work.source,
        source_format=decoded.format,
        format=PILLOW_NAMES[fmt],
        width=image.width,
        height=image.height,
        bytes_before=before,
        bytes_after=after,
        bytes_saved=before - after,
        saved_percent=round(100.0 * (before - after) / before, 2) if before else 0.0,
        metadata_stripped=request.strip_metadata,
    )
