"""What the CPU side raises about its input: `BadMedia`, a picklable reason the job cannot succeed.

Work functions run in pool processes, so their exceptions cross a pickle boundary. jobcommon's
`PermanentError` keeps its `error_type` in a keyword argument that pickling drops; `BadMedia` keeps both
in `args`, and the handler turns it into a `PermanentError` (`as_permanent`) on the service side.
"""

from __future__ import annotations


class BadMedia(Exception):
    """The input is not usable media: unknown container, corrupt, truncated, too large, wrong kind."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(error_type, message)
        self.error_type = error_type
        self.message = message

    def __str__(self) -> str:
        return self.message


class WorkCancelled(Exception):
    """The job was cancelled while its work ran in a pool process; the result would be discarded."""


UNSUPPORTED = "UnsupportedMedia"
"""Magic bytes of no accepted container or image format (also: a playlist disguised as a video)."""
WRONG_KIND = "WrongMediaKind"
"""A video where an image is needed, or the reverse."""
CORRUPT = "CorruptMedia"
"""Recognised, but cannot be decoded: corrupt, truncated, no video frames."""
TOO_LARGE = "ImageTooLarge"
"""More pixels than the decompression-bomb limit (an animation: all its frames together), or more frames than
an animation may have (`imaging.animation.MAX_FRAMES`)."""
NOT_ANIMATED = "AnimationNotSupported"
"""An animated image asked for in a format that holds one frame (JPEG): refused rather than cut to a still."""
TOO_MANY_TILES = "TooManyTiles"
"""A storyboard whose interval would make more tiles than allowed."""
OUTPUT_TOO_LARGE = "OutputTooLarge"
"""Outputs past the pixel caps for this source (`imaging.output_caps`)."""


LIMIT_SETTING = "IMAGING_MAX_PIXELS"
"""The environment variable that sets the decompression-bomb limit (`ImagingSettings.imaging_max_pixels`),
named in every ImageTooLarge message so that whoever reads it knows what raises the limit."""


def too_large(label: str, what: str, limit: int | None, advice: str = "") -> BadMedia:
    """ImageTooLarge: `what` (``"12000x9000 is 108000000 pixels"``) is past `limit`, which
    `LIMIT_SETTING` sets; `advice` says what can still be done with the image."""
    hint = f"; {advice}" if advice else ""
    return BadMedia(
        TOO_LARGE, f"{label}: {what}, more than the limit of {limit} pixels (set by {LIMIT_SETTING}){hint}"
    )


def one_line(text: str, limit: int = 300) -> str:
    """An exception text as one short line (decoders' messages can span lines)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
