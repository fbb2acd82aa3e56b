"""Classify yt-dlp failures as permanent or transient, by exception class (not by message text).

yt-dlp wraps the real cause: ``DownloadError.exc_info[1]`` → ``ExtractorError``/``HTTPError``/
``TransportError`` → ``.cause``/``__cause__`` → ``ConnectionRefusedError``, ``TimeoutError``,
``urllib3``/``requests`` exceptions, our ``BlockedAddressError``. `classify` walks that graph.
The wording of the messages differs between yt-dlp's urllib and requests handlers, so there are only
two text-based rules, both for a ``DownloadError`` without ``exc_info`` (a download that failed after
its retries reports only text): our own guard's message (`BLOCKED_MESSAGE_RE`, e.g. an HLS segment on an
internal host) is permanent, and otherwise ``Got error:`` is transient.
"""

from __future__ import annotations

import errno
import re
import socket
from typing import Literal

from downloader.fsjail import BlockedWriteError
from jobcommon.causes import iter_chain
from jobcommon.netguard import BLOCKED_MESSAGE_RE, BlockedAddressError, UnsupportedUrlError

ErrorKind = Literal["permanent", "transient"]

_TRANSIENT_HTTP = frozenset({408, 425, 429})
_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN})
_MAX_MESSAGE = 500

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*(?:\x07|\x1b\\)")
_PREFIX_RE = re.compile(r"^(?:ERROR|WARNING):\s*")
_BUG_REPORT_RE = re.compile(r";?\s*please report this issue on\b.*$", re.IGNORECASE | re.DOTALL)
_WS_RE = re.compile(r"\s+")


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


def _yt_dlp_classes() -> dict[str, type[BaseException]]:
    """yt-dlp exception classes, imported lazily (the parent process never needs yt-dlp)."""
    from yt_dlp.networking import exceptions as net
    from yt_dlp.utils import (
        ContentTooShortError,
        DownloadCancelled,
        DownloadError,
        ExtractorError,
        PostProcessingError,
        UnsupportedError,
    )

    return {
        "HTTPError": net.HTTPError,
        "TransportError": net.TransportError,
        "CertificateVerifyError": net.CertificateVerifyError,
        "RequestError": net.RequestError,
        "ContentTooShortError": ContentTooShortError,
        "DownloadCancelled": DownloadCancelled,
        "DownloadError": DownloadError,
        "ExtractorError": ExtractorError,
        "PostProcessingError": PostProcessingError,
        "UnsupportedError": UnsupportedError,
    }


def http_status(exc: BaseException) -> int | None:
    """Status of the first yt-dlp ``HTTPError`` in the chain, if any."""
    try:
        http_error = _yt_dlp_classes()["HTTPError"]
    except ImportError:
        return None
    for node in iter_chain(exc):
        if isinstance(node, http_error):
            status = getattr(node, "status", None)
            return status if isinstance(status, int) else None
    return None


def is_range_not_satisfiable(exc: BaseException) -> bool:
    """HTTP 416: a stale/complete ``.part`` file; wipe the temp dir and download from scratch."""
    return http_status(exc) == 416


def _decide(node: BaseException, cls: dict[str, type[BaseException]]) -> tuple[ErrorKind, str] | None:
    """A decisive network/IO-level classification of one node, or None."""
    name = type(node).__name__
    if isinstance(
        node,
        (
            BlockedAddressError,
            UnsupportedUrlError,
            FileTooLargeError,
            DurationTooLongError,
            BlockedWriteError,
        ),
    ):
        return "permanent", name
    if isinstance(node, (TruncatedDownloadError, InsufficientSpaceError)):
        return "transient", name
    if isinstance(node, OSError) and node.errno == errno.EFBIG:  # RLIMIT_FSIZE: the size limit's backstop
        return "permanent", FileTooLargeError.__name__
    if cls and isinstance(node, cls["HTTPError"]):
        status = getattr(node, "status", None)
        if isinstance(status, int) and (status in _TRANSIENT_HTTP or status == 416 or 500 <= status <= 599):
            return "transient", name
        return "permanent", name
    if cls and isinstance(node, cls["CertificateVerifyError"]):
        return "permanent", name
    if cls and isinstance(node, (cls["TransportError"], cls["ContentTooShortError"])):
        return "transient", name
    if isinstance(node, (TimeoutError, ConnectionError, socket.gaierror)):
        return "transient", name
    if isinstance(node, OSError) and node.errno in _TRANSIENT_ERRNOS:
        return "transient", name
    return None


def _classify(exc: BaseException) -> tuple[ErrorKind, str]:
    try:
        cls = _yt_dlp_classes()
    except ImportError:  # pragma: no cover - yt-dlp is a dependency of this package
        cls = {}
    chain = list(iter_chain(exc))
    # 1. The SSRF guard wins over whatever the HTTP library made of it (even implicit context).
    for node in iter_chain(exc, include_context=True):
        if isinstance(node, BlockedAddressError):
            return "permanent", type(node).__name__
    if cls and isinstance(exc, cls["DownloadError"]) and BLOCKED_MESSAGE_RE.search(str(exc)):
        return "permanent", BlockedAddressError.__name__  # the cause survived only as text
    # 2. The most specific network/IO cause, nearest to the top first.
    for node in chain:
        decided = _decide(node, cls)
        if decided is not None:
            return decided
    # 3. Extraction-level verdicts (no network cause found): unsupported URL, invalid URL, expected errors.
    innermost = chain[-1]
    for node in chain:
        if cls and isinstance(node, (cls["UnsupportedError"], cls["ExtractorError"])):
            return "permanent", type(node).__name__
        if cls and isinstance(node, (cls["PostProcessingError"], cls["DownloadCancelled"])):
            return "permanent", type(node).__name__
    # 4. A download that gave up after its retries carries no exc_info, only the text.
    if cls and isinstance(exc, cls["DownloadError"]) and "Got error:" in str(exc):
        return "transient", "DownloadError"
    return "permanent", type(innermost).__name__


def classify(exc: BaseException) -> ErrorKind:
    """``"transient"`` when retrying the same job later may succeed, else ``"permanent"``.

    * ``BlockedAddressError`` anywhere in the chain → permanent.
    * yt-dlp ``HTTPError`` 408/425/429/5xx → transient; 416 → transient (the child wipes its temp
      dir and retries once itself first); any other status → permanent.
    * ``TransportError``, ``ContentTooShortError``, ``TimeoutError``, ``ConnectionError``,
      ``socket.gaierror`` and full-disk/IO ``OSError`` → transient.
    * ``UnsupportedError``, ``ExtractorError`` (incl. invalid URLs), ``UnsupportedUrlError``,
      post-processing failures, ``FileTooLargeError`` (and ``EFBIG``), ``DurationTooLongError``,
      ``BlockedWriteError`` → permanent; ``InsufficientSpaceError`` → transient.
    * ``DownloadError`` without ``exc_info`` whose message contains ``Got error:`` → transient.
    * Anything else → permanent.
    """
    return _classify(exc)[0]


def error_type(exc: BaseException) -> str:
    """Class name of the exception that decided `classify` (falls back to the innermost one)."""
    return _classify(exc)[1]


def _strip_caused_by(text: str) -> str:
    """Drop yt-dlp's trailing `` (caused by <repr of the cause>)``: it repeats the message."""
    start = text.find(" (caused by ")
    if start <= 0 or not text.endswith(")"):
        return text
    depth = 0
    for ch in text[start + 1 :]:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return text
    return text[:start].rstrip() if depth == 0 else text


def one_line(exc: BaseException) -> str:
    """User-facing one-line message: no ``ERROR:`` prefix, ANSI codes, traceback or bug-report plea."""
    source: BaseException = exc
    for node in iter_chain(exc, include_context=True):
        if isinstance(node, BlockedAddressError):  # say what happened, not how urllib3 wrapped it
            source = node
            break
    else:
        if match := BLOCKED_MESSAGE_RE.search(str(exc)):
            return match.group(0)
    text = _ANSI_RE.sub("", str(source))
    text = text.split("Traceback (most recent call last)", 1)[0]
    text = _BUG_REPORT_RE.sub("", text)
    text = _WS_RE.sub(" ", text).strip()
    text = _strip_caused_by(text)
    text = _PREFIX_RE.sub("", text).strip()
    if not text:
        text = type(source).__name__
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text
