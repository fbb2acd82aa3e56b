"""A yt-dlp failure as a job sees it: permanent or transient (by exception class, not message text), and
one clean line to show.

yt-dlp wraps the real cause: ``DownloadError.exc_info[1]`` → ``ExtractorError``/``HTTPError``/
``TransportError`` → ``.cause``/``__cause__`` → ``ConnectionRefusedError``, ``TimeoutError``,
``urllib3``/``requests`` exceptions, our ``BlockedAddressError``. `classify` walks that graph
(`jobcommon.causes`). yt-dlp's exceptions are recognised by the names of their classes (and bases) in the
``yt_dlp`` package, so nothing here imports yt-dlp. The wording of the messages differs between yt-dlp's
urllib and requests handlers, so there are only two text-based rules, both for a ``DownloadError`` that lost
its cause (a download that failed after its retries reports only text): our own guard's message
(`BLOCKED_MESSAGE_RE`, e.g. an HLS segment on an internal host) is permanent, and otherwise ``Got error:``
is transient.
"""

from __future__ import annotations

import errno
import re
import socket
from typing import TYPE_CHECKING

from jobcommon.causes import iter_chain
from jobcommon.netguard import BLOCKED_MESSAGE_RE, BlockedAddressError, UnsupportedUrlError
from jobcommon.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from jobcommon.child_process import ErrorKind

    Verdict = tuple[ErrorKind, str]
    """(kind, error type): the error type is the class name of the exception that decided."""
    Rule = Callable[[BaseException], Verdict | None]
    """A service's own verdict on one exception of the chain (its own exception classes), or None."""

TRANSIENT_HTTP = frozenset({408, 416, 425, 429})
"""And every 5xx. 416 is a stale resume (the downloader wipes its partial file and retries once itself)."""
TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN})
MAX_MESSAGE = 500

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*(?:\x07|\x1b\\)")
_PREFIX_RE = re.compile(r"^(?:ERROR|WARNING):\s*")
_BUG_REPORT_RE = re.compile(r";?\s*please report this issue on\b.*$", re.IGNORECASE | re.DOTALL)
_WS_RE = re.compile(r"\s+")
_EXTRACTION_VERDICTS = frozenset(
    {"UnsupportedError", "ExtractorError", "PostProcessingError", "DownloadCancelled"}
)
"""yt-dlp exceptions that end an extraction for good when no network cause was found beneath them."""


def _yt_dlp_names(exc: BaseException) -> set[str]:
    """Names of the yt-dlp classes `exc` is an instance of (its class and its bases)."""
    return {base.__name__ for base in type(exc).__mro__ if base.__module__.split(".", 1)[0] == "yt_dlp"}


def is_yt_dlp(exc: BaseException, name: str) -> bool:
    """Whether `exc` is an instance of the yt-dlp exception class called `name` (or of a subclass)."""
    return name in _yt_dlp_names(exc)


def http_status(exc: BaseException) -> int | None:
    """Status of the first yt-dlp ``HTTPError`` in the chain, if any."""
    for node in iter_chain(exc):
        if is_yt_dlp(node, "HTTPError"):
            status = getattr(node, "status", None)
            return status if isinstance(status, int) else None
    return None


def _http_verdict(node: BaseException) -> Verdict:
    status = getattr(node, "status", None)
    transient = isinstance(status, int) and (status in TRANSIENT_HTTP or 500 <= status <= 599)
    return ("transient" if transient else "permanent"), type(node).__name__


def _decide(node: BaseException, rules: Sequence[Rule]) -> Verdict | None:
    """A decisive network/IO-level verdict on one exception of the chain, or None."""
    for rule in rules:
        if (verdict := rule(node)) is not None:
            return verdict
    name = type(node).__name__
    if isinstance(node, BlockedAddressError | UnsupportedUrlError):
        return "permanent", name
    if is_yt_dlp(node, "HTTPError"):
        return _http_verdict(node)
    if is_yt_dlp(node, "CertificateVerifyError"):
        return "permanent", name
    if is_yt_dlp(node, "TransportError") or is_yt_dlp(node, "ContentTooShortError"):
        return "transient", name
    if isinstance(node, TimeoutError | ConnectionError | socket.gaierror):
        return "transient", name
    if isinstance(node, OSError) and node.errno in TRANSIENT_ERRNOS:
        return "transient", name
    return None


def classify(exc: BaseException, rules: Sequence[Rule] = ()) -> Verdict:
    """(kind, error type): ``"transient"`` when retrying the same job later may succeed.

    * ``BlockedAddressError`` anywhere in the chain (or its message in a ``DownloadError``) → permanent.
    * The nearest decisive cause: `rules` (the service's own exceptions) first; then yt-dlp ``HTTPError``
      408/416/425/429/5xx → transient, any other status → permanent; ``CertificateVerifyError`` and
      ``UnsupportedUrlError`` → permanent; ``TransportError``, ``ContentTooShortError``,
      ``TimeoutError``, ``ConnectionError``, ``socket.gaierror`` and full-disk/IO ``OSError`` → transient.
    * No such cause: ``UnsupportedError``, ``ExtractorError`` (incl. invalid URLs), post-processing
      failures and ``DownloadCancelled`` → permanent.
    * ``DownloadError`` without a cause whose message contains ``Got error:`` → transient.
    * Anything else → permanent, named after the innermost exception.
    """
    for node in iter_chain(exc, include_context=True):  # the SSRF guard wins over whatever wrapped it
        if isinstance(node, BlockedAddressError):
            return "permanent", type(node).__name__
    if is_yt_dlp(exc, "DownloadError") and BLOCKED_MESSAGE_RE.search(str(exc)):
        return "permanent", BlockedAddressError.__name__  # the cause survived only as text
    chain = list(iter_chain(exc))
    for node in chain:
        if (decided := _decide(node, rules)) is not None:
            return decided
    for node in chain:
        if _yt_dlp_names(node) & _EXTRACTION_VERDICTS:
            return "permanent", type(node).__name__
    if is_yt_dlp(exc, "DownloadError") and "Got error:" in str(exc):
        return "transient", "DownloadError"
    return "permanent", type(chain[-1]).__name__


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
    """User-facing one-line message: no ``ERROR:`` prefix, ANSI codes, traceback, bug-report plea or
    ``(caused by …)`` tail; a blocked connection says so, however it was wrapped."""
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
    text = redact(_PREFIX_RE.sub("", text).strip()) or type(source).__name__  # masked before it is cut
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
