"""Encoding: one image (or the frames of an animation) to one file in JPEG, WebP, AVIF or PNG, with chosen
metadata and quality.

Nothing is carried over implicitly: the output gets exactly the metadata passed in (none when stripping),
whatever the decoded image's `info` held. Animations are written as animated WebP, APNG or animated AVIF
(`ANIMATED`); JPEG holds one frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image

from imaging.errors import CORRUPT, BadMedia, one_line

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

OutputFormat = Literal["jpeg", "webp", "avif", "png"]

EXTENSIONS: dict[OutputFormat, str] = {"jpeg": "jpg", "webp": "webp", "avif": "avif", "png": "png"}
PILLOW_NAMES: dict[OutputFormat, str] = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF", "png": "PNG"}
KEEP: dict[str, OutputFormat] = {
    "JPEG": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
    "AVIF": "avif",
    "GIF": "png",
    "TIFF": "png",
}
"""`format: keep`: the source's own format, or PNG for sources in a format we do not write (GIF, TIFF; an
animated GIF becomes an animated PNG, APNG)."""
ANIMATED: frozenset[OutputFormat] = frozenset({"webp", "png", "avif"})
"""Output formats that hold an animation (PNG as APNG); JPEG holds one frame."""
MAX_SIDE: dict[OutputFormat, int] = {"jpeg": 65_500, "webp": 16_383, "avif": 32_768, "png": 2**31 - 1}
"""Widest and tallest image each format is written at: libjpeg's limit (the JPEG header would take 65535);
WebP's 14-bit sides; AVIF: AV1 encodes up to 65536, but libavif refuses to decode more than 32768 by default
(Pillow's reader among them), so a wider file could not be read back; PNG's 31-bit sides. Past these the
encoders fail (WebP: ValueError, JPEG: OSError) or write what cannot be opened."""

MAX_FRAME_MS: dict[OutputFormat, int] = {"webp": 0xFF_FFFF, "png": 65_535}
"""Longest frame duration (ms) each animated format is written with: WebP's 24-bit frame duration; APNG's
delay is a 16-bit numerator over a 16-bit denominator, and Pillow writes ms up to 65535 exactly (longer ones
only when some fraction with a 16-bit numerator matches them: ``cannot write duration`` otherwise)."""
MAX_TOTAL_MS: dict[OutputFormat, int] = {"webp": 2**31 - 1}
"""Longest animation (ms) each format is written with: libwebp's frame timestamps are 32-bit signed ints."""


@dataclass(frozen=True, slots=True)
class Metadata:
    """What to embed in an output; all None strips everything."""

    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None


STRIPPED = Metadata()


def file_name(stem: str, fmt: OutputFormat) -> str:
    return f"{stem}.{EXTENSIONS[fmt]}"


def _options(
    fmt: OutputFormat, quality: int, metadata: Metadata, effort: Literal["fast", "small"]
) -> dict[str, Any]:
    small = effort == "small"
    options: dict[str, Any] = {}
    if fmt == "jpeg":
        options = {"quality": quality, "optimize": small, "progressive": small}
    elif fmt == "webp":
        options = {"quality": quality, "method": 6 if small else 4}
    elif fmt == "avif":
        options = {"quality": quality, "speed": 4 if small else 8}
    else:
        options = {"optimize": small} if small else {"compress_level": 6}
    if metadata.icc_profile:
        options["icc_profile"] = metadata.icc_profile
    else:
        options["icc_profile"] = None
    if metadata.exif:
        options["exif"] = metadata.exif
    if metadata.xmp:
        options["xmp"] = metadata.xmp
    return options


def save(
    image: Image.Image,
    path: Path,
    fmt: OutputFormat,
    *,
    quality: int,
    metadata: Metadata = STRIPPED,
    effort: Literal["fast", "small"] = "fast",
) -> int:
    """Write `image` (already in a mode the format holds) and return the file's size in bytes.

    `effort="small"` spends more CPU for smaller files (optimize jobs); `"fast"` suits thumbnails.
    """
    options = _options(fmt, quality, metadata, effort)
    image.info = {}  # nothing implicit (PNG and AVIF would copy a profile from `info`, JPEG a comment)
    image.save(path, PILLOW_NAMES[fmt], **options)
    return path.stat().st_size


@dataclass(frozen=True, slots=True)
class Written:
    """An animation as written: the encoders merge identical consecutive frames (adding their durations)."""

    bytes: int
    frames: int
    duration_ms: int
    loop: int | None
    """Times it plays (0: forever); None for AVIF, whose loop count Pillow does not write."""


def save_animation(
    frames: Sequence[Image.Image],
    durations: Sequence[int],
    loop: int | None,
    path: Path,
    fmt: OutputFormat,
    *,
    label: str,
    quality: int,
    metadata: Metadata = STRIPPED,
    effort: Literal["fast", "small"] = "fast",
) -> Written:
    """Write `frames` (all one size and mode the format holds) as an animation, each shown for its duration
    in `durations` (ms, clamped to what the format writes: `writable_durations`), played `loop` times (0:
    forever; None: as the format's encoder does). What the encoder refuses is `BadMedia` naming `label`."""
    if fmt not in ANIMATED:
        raise ValueError(f"{fmt} holds no animation")
    durations = writable_durations(durations, fmt)
    options = _options(fmt, quality, metadata, effort)
    options.update(save_all=True, append_images=list(frames[1:]), duration=durations)
    if fmt == "avif":
        loop = None  # Pillow's AVIF writer takes no loop count
    else:
        loop = options["loop"] = 0 if loop is None else loop  # WebP's and APNG's own default: forever
    for frame in frames:
        frame.info = {}
    try:
        frames[0].save(path, PILLOW_NAMES[fmt], **options)
    except OSError as exc:
        if exc.errno is not None:  # the file system's (disk full, …), not the encoder's: may pass
            raise
        raise _unwritable(label, fmt, exc) from None
    except (ValueError, OverflowError) as exc:
        raise _unwritable(label, fmt, exc) from None
    return Written(path.stat().st_size, _frames_in(path, fmt), sum(durations), loop)


def writable_durations(durations: Sequence[int], fmt: OutputFormat) -> list[int]:
    """`durations` (ms) as `fmt` can write them: each at most `MAX_FRAME_MS`, and all together scaled down
    (in proportion) to `MAX_TOTAL_MS`."""
    longest = MAX_FRAME_MS.get(fmt)
    clamped = [max(0, d if longest is None else min(d, longest)) for d in durations]
    most, total = MAX_TOTAL_MS.get(fmt), sum(clamped)
    if most is not None and total > most:
        clamped = [d * most // total for d in clamped]
    return clamped


def _unwritable(label: str, fmt: OutputFormat, exc: Exception) -> BadMedia:
    return BadMedia(
        CORRUPT,
        f"{label}: the animation cannot be written as {PILLOW_NAMES[fmt]} ({type(exc).__name__}: "
        f"{one_line(str(exc))})",
    )


def _frames_in(path: Path, fmt: OutputFormat) -> int:
    """The frames a written animation holds (its header says; nothing is decoded). Read by the format's
    plugin without Image.open's pixel check: the output's size was checked against the caps already."""
    factory, _accept = Image.OPEN[PILLOW_NAMES[fmt]]
    with path.open("rb") as fp:
        written = factory(fp, str(path))
        return int(getattr(written, "n_frames", 1))
