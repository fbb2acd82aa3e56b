"""How a download fails, beyond what yt-dlp itself raises: the downloader's own failures and their verdicts.

The verdict on yt-dlp's exceptions and on network causes is `jobcommon.ytdlp.failures.classify`; `classify`
here adds the downloader's rules for its own exceptions (limits, the write jail, short files) to it.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from downloader.fsjail import BlockedWriteError
from jobcommon.ytdlp import failures
from jobcommon.ytdlp.m3u_lists import M3uTooLargeError

if TYPE_CHECKING:
    from jobcommon.ytdlp.failures import Verdict

__all__ = [
    "PERMANENT",
    "TRANSIENT",
    "BrokenMediaError",
    "DurationTooLongError",
    "ExternalFetchRefusedError",
    "FileTooLargeError",
    "InsufficientSpaceError",
    "M3uTooLargeError",
    "NotMediaError",
    "NothingDownloadedError",
    "PlaylistUrlError",
    "TruncatedDownloadError",
    "classify",
    "download_rule",
    "is_range_not_satisfiable",
]


class TruncatedDownloadError(Exception):
    """The downloaded file is shorter (or longer) than the size the server announced."""


class FileTooLargeError(Exception):
    """The media is larger than the job's ``max_filesize``."""


class NothingDownloadedError(Exception):
    """yt-dlp returned without producing a file (e.g. every format was filtered out)."""


class DurationTooLongError(Exception):
    """The media is longer than the job's ``max_duration``."""


class InsufficientSpaceError(Exception):
    """Not enough free disk space for the announced size (retry later, when space may have been freed)."""


class ExternalFetchRefusedError(Exception):
    """yt-dlp wanted to hand the network fetch to ffmpeg/rtmpdump, which the connect guard can't see."""


class NotMediaError(Exception):
    """A downloaded file is no audio or video: its bytes are text or a playlist (`downloader.media_check`),
    or yt-dlp was about to probe a file that is no audio or video container with ffmpeg
    (`downloader.ffmpeg_fences`)."""


class BrokenMediaError(Exception):
    """A downloaded file is an audio or video container no player can read in full: an mp4 without its
    ``moov`` index, or shorter than its boxes say (`downloader.media_check`)."""


class PlaylistUrlError(Exception):
    """A `video_download` of a URL that is a list of media (a plain M3U): one video cannot be made of it; a
    `playlist_download` of the same URL downloads its entries."""


PERMANENT = (
    FileTooLargeError,
    DurationTooLongError,
    BlockedWriteError,
    NotMediaError,
    BrokenMediaError,
    M3uTooLargeError,
    PlaylistUrlError,
)
TRANSIENT = (TruncatedDownloadError, InsufficientSpaceError)


def download_rule(node: BaseException) -> Verdict | None:
    """The verdict on the downloader's own exceptions; ``EFBIG`` (RLIMIT_FSIZE, the size limit's backstop)
    is the size limit too."""
    if isinstance(node, PERMANENT):
        return "permanent", type(node).__name__
    if isinstance(node, TRANSIENT):
        return "transient", type(node).__name__
    if isinstance(node, OSError) and node.errno == errno.EFBIG:
        return "permanent", FileTooLargeError.__name__
    return None


def classify(exc: BaseException) -> Verdict:
    """(kind, error type) of a failed download or listing: `jobcommon.ytdlp.failures.classify` with the
    downloader's own exceptions (size and duration limits, the write jail, a file that is no playable
    media, an M3U list too large to read and a list given as one video are permanent; a file shorter than
    announced and a full disk transient)."""
    return failures.classify(exc, (download_rule,))


def is_range_not_satisfiable(exc: BaseException) -> bool:
    """HTTP 416: a stale/complete ``.part`` file; wipe the temp dir and download from scratch."""
    return failures.http_status(exc) == 416
