"""Is a finished download audio or video at all? Decided from its bytes before it is kept.

A server may answer a media URL with something else (an HTML error or login page served as ``video/mp4``, a
playlist) or with a cut-off file (an mp4 missing its ``moov`` index, a Content-Length smaller than the file):
the download then "succeeds" and every job working on it fails later. The rule is conservative, because
yt-dlp legitimately writes many containers, some of which `jobcommon.sniff` does not know (ASF, AMR,
raw AC-3 …) and some whose headers carry no reliable size (live WebM, streamed WAV):

* bytes the sniffer positively identifies as text or a playlist are no media file (`NotMediaError`);
  unknown binary bytes and images pass;
* an ISO-BMFF file (mp4, mov, 3gp, m4a) is only playable with its ``moov`` box, and every top-level box
  states its exact size: a file without ``moov``, or whose ``moov``/``mdat`` (or any box before ``moov``) runs
  past the end of the file, is cut short (`BrokenMediaError`). The transfer brought every byte the server
  announced (fewer is `TruncatedDownloadError`, transient), so asking again brings the same bytes: both
  errors are permanent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from downloader.failures import BrokenMediaError, NotMediaError
from jobcommon.sniff import Sniffed, read_head, sniff

if TYPE_CHECKING:
    from pathlib import Path

ISO_BMFF = frozenset({"mp4", "mov", "3gp", "m4a"})
"""Containers made of ISO base media boxes (`jobcommon.sniff` names)."""
MAX_BOXES = 200_000
"""Top-level boxes walked at most: a fragmented mp4 of hours has tens of thousands; past this, no verdict."""
_START = 12
"""Characters of a text file quoted in an error (as the imaging service does)."""
_LABELS = {"html": "an HTML page", "xml": "an XML document"}


def describe(found: Sniffed, head: bytes) -> str:
    """What a file whose first bytes are `head` (sniffed as `found`) looks like, for an error message."""
    if found.kind == "playlist":
        return f"a playlist ({found.container})"
    if found.kind == "image":
        return f"an image ({found.container})"
    if found.kind in ("video", "audio"):
        return f"{found.kind} ({found.container})"
    if not head:
        return "empty"
    if found.kind == "text":
        start = head.lstrip(b"\xef\xbb\xbf").lstrip()[:_START].decode("utf-8", "replace")
        label = _LABELS.get(found.container or "")
        return f"text starting {start!r}" + (f" ({label})" if label else "")
    return f"of no known format, starting with bytes {head[:_START].hex(' ')}"


def check_media(path: Path) -> Sniffed:
    """What the downloaded file at `path` is (blocking); raises `NotMediaError` when its bytes are text or a
    playlist, `BrokenMediaError` when it is an ISO-BMFF file no player can read in full."""
    found = sniff(path)
    if found.kind in ("text", "playlist"):
        raise NotMediaError(f"not a media file: its content is {describe(found, read_head(path))}")
    if found.container in ISO_BMFF:
        with path.open("rb") as fh:
            problem = iso_bmff_problem(fh, path.stat().st_size)
        if problem is not None:
            raise BrokenMediaError(f"not a playable media file: the {found.container} {problem}")
    return found


def iso_bmff_problem(fh: BinaryIO, size: int) -> str | None:
    """Why the ISO-BMFF file `fh` (`size` bytes) cannot be played, from its top-level boxes (a predicate:
    "is cut short: …", "has no 'moov' box …"); None if it can, or when there is no verdict (a malformed box
    after ``moov``, more than `MAX_BOXES` boxes)."""
    offset = 0
    moov = False
    for _ in range(MAX_BOXES):
        if offset + 8 > size:
            break
        fh.seek(offset)
        header = fh.read(16)
        length = int.from_bytes(header[0:4], "big")
        kind = header[4:8]
        if length == 1:  # a 64-bit size follows the type
            length = int.from_bytes(header[8:16], "big") if len(header) == 16 else 0
            if length < 16:
                break
        elif length == 0:  # the box runs to the end of the file
            length = size - offset
        elif length < 8:
            break
        moov = moov or kind == b"moov"
        end = offset + length
        if end > size and (kind in (b"moov", b"mdat") or not moov):
            name = kind.decode("ascii", "replace")
            return f"is cut short: its {name!r} box ends at byte {end:,}, but the file has {size:,} bytes"
        offset = end
    else:
        return None
    if not moov:
        return "has no 'moov' box (the index every player needs): it is incomplete or corrupt"
    return None
