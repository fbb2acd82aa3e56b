"""Secrets never reach a log line: credentials in URLs and token-like query values are masked.

`Redactor` is a logging filter every mediajobs process installs (`configure_logging`): it rewrites each
record's final message, so `log.info("fetch %s", url)` with `https://user:pw@host/x?token=abc&id=1` logs
`https://***@host/x?token=***&id=1`. Query parameters count as secret when their name says so (token, key,
signature, password, auth, secret, session, credential, hmac, and the `X-Amz-*` signing fields).
"""

from __future__ import annotations

import logging
import re

URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@:]+(?::[^/\s@]*)?@")
SECRET_QUERY = re.compile(
    r"(?P<name>[?&;](?:[\w.-]*(?:token|key|sig|signature|password|passwd|pass|auth|secret|session|"
    r"credential|hmac)[\w.-]*|x-amz-[\w-]+|policy))=(?P<value>[^&#\s\"']+)",
    re.IGNORECASE,
)
BEARER = re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]{8,}")


def redact(text: str) -> str:
    """`text` with URL credentials, secret-looking query values and bearer tokens masked."""
    text = URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
    text = SECRET_QUERY.sub(r"\g<name>=***", text)
    return BEARER.sub(r"\g<1>***", text)


class Redactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
