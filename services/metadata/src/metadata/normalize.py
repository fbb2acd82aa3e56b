"""URL normalization: one cache entry per resource, however its URL was spelled.

Lowercase scheme and host (IDNA-encoded), no default port, no fragment, dot segments removed, percent
escapes canonical (unreserved characters decoded, hex upper-cased), query parameters sorted by name
(repeated names keep their relative order: ``a=2&a=1`` may mean something else than ``a=1&a=2``).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

from jobcommon import PermanentError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class InvalidUrlError(PermanentError):
    """The URL cannot be parsed (bad port, bad IPv6 literal, no host)."""


def _canonical_escapes(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        byte = int(match.group(1), 16)
        return chr(byte) if byte in _UNRESERVED else f"%{match.group(1).upper()}"

    return _ESCAPE.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, on an absolute path."""
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == ".":
            continue
        if segment == "..":
            if output:
                output.pop()
            continue
        output.append(segment)
    result = "/" + "/".join(output)
    if path.endswith(("/.", "/..")) and not result.endswith("/"):
        result += "/"
    return result


def _host(hostname: str) -> str:
    host = hostname.rstrip(".")
    if ":" in host:  # IPv6 literal
        return f"[{host}]"
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def normalize_url(url: str) -> str:
    """The canonical spelling of an http(s) URL; raises `InvalidUrlError`."""
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise InvalidUrlError(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if not hostname:
        raise InvalidUrlError("URL has no host")
    netloc = _host(hostname)
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    if parts.username is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{netloc}"
    path = _remove_dot_segments(_canonical_escapes(parts.path or "/")) if parts.path else "/"
    params = [p for p in parts.query.split("&") if p]
    params = sorted((_canonical_escapes(p) for p in params), key=lambda p: p.partition("=")[0])
    return urlunsplit((scheme, netloc, path, "&".join(params), ""))


def url_hash(normalized: str) -> str:
    """The cache key part of a normalized URL."""
    return hashlib.sha256(normalized.encode()).hexdigest()
