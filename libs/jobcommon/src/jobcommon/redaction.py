"""Secrets never reach what people or other systems read: credentials in URLs and token-like query values
are masked.

One rule, `redact`: `https://user:pw@host/x?token=abc&id=1` reads `https://***@host/x?token=***&id=1`.
Query parameters count as secret when their name says so (token, key, signature, password, auth, secret,
session, credential, hmac, and the `X-Amz-*` signing fields); a bearer token is masked too.

Where it applies (the submitted request keeps the real URL: the worker needs it, and so do retries and
follow-ups):

- log lines: `Redactor`, a logging filter every mediajobs process installs (`configure_logging`), rewrites
  each record's final message;
- the API: the gateway serializes every job, item, dead letter, event and schedule through
  `gateway.public_view`, which masks each string of it (`redact_data`);
- search: `jobcommon.search_tokens` indexes the redacted text (a host and a path are found, a password never);
- results: a download's `source_url` is stored redacted, and so is the info JSON written beside its file;
- traces: error messages and stack traces on spans (`jobcommon.job_spans`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s?#@]+(?:@[^/\s?#@]*)*@")
"""A URL's `user[:password]@`, to its authority's last `@` (a raw `@` in a password is a common mistake)."""
SECRET_QUERY = re.compile(
    r"(?P<name>[?&;](?:[\w.-]*(?:token|key|sig|signature|password|passwd|pass|auth|secret|session|"
    r"credential|hmac)[\w.-]*|x-amz-[\w-]+|policy))=(?P<value>[^&#\s\"']+)",
    re.IGNORECASE,
)
BEARER = re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]{8,}")


def may_hold_secret(text: str) -> bool:
    """False when `text` certainly holds nothing `redact` masks: every such secret has a credential's `@`, a
    query value's `=` or the word bearer in it. A fast test; JSON text can be tested as a whole, since JSON
    escapes none of these characters."""
    return "@" in text or "=" in text or "bearer" in text.casefold()


def redact(text: str) -> str:
    """`text` with URL credentials, secret-looking query values and bearer tokens masked."""
    if not may_hold_secret(text):
        return text
    text = URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
    text = SECRET_QUERY.sub(r"\g<name>=***", text)
    return BEARER.sub(r"\g<1>***", text)


def url_userinfo(url: str) -> str | None:
    """The `user:password` (or bare user) of a URL's authority as written in it; None when it has none."""
    _, sep, rest = url.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0] if sep else ""
    userinfo, at, _ = authority.rpartition("@")
    return userinfo if at and userinfo else None


def redact_data(value: Any, *, userinfo: str | None = None) -> Any:
    """`value` (JSON-like data: strings, numbers, lists, mappings) with every string `redact`ed, keys too;
    given a URL's `userinfo`, also its `userinfo@` wherever it appears, with or without a scheme before it
    (yt-dlp writes a URL's bare authority, `user:pw@host:port`, into its info JSON).

    What holds no secret is returned as it is (the same object), so callers can tell cheaply that nothing
    changed (`result is value`)."""
    known = f"{userinfo}@" if userinfo else None

    def masked(text: str) -> str:
        clean = redact(text)
        if known is not None:
            clean = clean.replace(known, "***@")
        return text if clean == text else clean

    def walk(item: Any) -> Any:  # called for every node of a job's record: the common cases come first
        if isinstance(item, str):
            if known is None and "@" not in item and "=" not in item and "bearer" not in item.casefold():
                return item
            return masked(item)
        if isinstance(item, dict) or (not isinstance(item, list | tuple) and isinstance(item, Mapping)):
            changed = False
            out: dict[Any, Any] = {}
            for key, old in item.items():
                new_key, new = walk(key), walk(old)
                changed = changed or new_key is not key or new is not old
                out[new_key] = new
            return out if changed else item
        if isinstance(item, list | tuple):
            items = [walk(element) for element in item]
            if any(new is not old for new, old in zip(items, item, strict=True)):
                return tuple(items) if isinstance(item, tuple) else items
        return item

    return walk(value)


class Redactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
