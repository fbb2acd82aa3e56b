"""Classify yt-dlp extraction failures as permanent or transient, by exception class (not message text).

yt-dlp wraps the real cause: ``DownloadError.exc_info[1]`` → ``ExtractorError``/``HTTPError``/
``TransportError`` → ``.cause``/``__cause__`` → ``ConnectionRefusedError``, ``TimeoutError``, our
``BlockedAddressError``. `classify` walks that graph. (The downloader has its own, larger version for
downloads; extraction needs only this part. Candidate for a shared jobcommon module.)
"""

from __future__ import annotations

import re
import socket
from typing import Literal

from jobcommon.causes import iter_chain
from jobcommon.netguard import BlockedAddressError, UnsupportedUrlError

ErrorKind = Literal["permanent", "transient"]

_TRANSIENT_HTTP = frozenset({408, 425, 429})
_MAX_MESSAGE = 500

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*(?:\x07|\x1b\\)")
_PREFIX_RE = re.compile(r"^(?:ERROR|WARNING):\s*")
_BUG_REPORT_RE = re.compile(r";?\s*please report this issue on\b.*$", re.IGNORECASE | re.DOTALL)
_CAUSED_BY_RE = re.compile(r"\s*\(caused by <.*>\)\s*$", re.DOTALL)
_WS_RE = re.compile(r"\s+")


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    """(kind, error type): HTTP 408/425/429/5xx, transport errors and timeouts are transient; other HTTP
    statuses, the SSRF guard, unsupported or invalid URLs and extractor errors are permanent."""
    from yt_dlp.networking.exceptions import CertificateVerifyError, HTTPError, TransportError
    from yt_dlp.utils import ExtractorError, UnsupportedError

    for node in iter_chain(exc, include_context=True):  # the SSRF guard wins over whatever wrapped it
        if isinstance(node, BlockedAddressError | UnsupportedUrlError):
            return "permanent", type(node).__name__
    chain = list(iter_chain(exc))
    for node in chain:
        name = type(node).__name__
        if isinstance(node, HTTPError):
            status = node.status
            transient = status in _TRANSIENT_HTTP or 500 <= status <= 599
            return ("transient" if transient else "permanent"), name
        if isinstance(node, CertificateVerifyError):
            return "permanent", name
        if isinstance(node, TransportError | TimeoutError | ConnectionError | socket.gaierror):
            return "transient", name
    for node in chain:
        if isinstance(node, UnsupportedError | ExtractorError):
            return "permanent", type(node).__name__
    return "permanent", type(chain[-1]).__name__


def one_line(exc: BaseException) -> str:
    """User-facing one-line message: no ``ERROR:`` prefix, ANSI codes, traceback, bug-report plea or
    ``(caused by <repr>)`` tail."""
    source: BaseException = next(
        (n for n in iter_chain(exc, include_context=True) if isinstance(n, BlockedAddressError)), exc
    )
    text = _ANSI_RE.sub("", str(source))
    text = text.split("Traceback (most recent call last)", 1)[0]
    text = _BUG_REPORT_RE.sub("", text)
    text = _WS_RE.sub(" ", text).strip()
    text = _CAUSED_BY_RE.sub("", text)
    text = _PREFIX_RE.sub("", text).strip() or type(source).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
