"""Secrets never reach a log line: URL credentials, token-like query values and bearer keys are masked."""

from __future__ import annotations

import logging

import pytest

from jobcommon.logs import configure_logging
from jobcommon.redaction import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pw@host.example/x?token=abc&id=1", "https://***@host.example/x?token=***&id=1"),
        ("http://h/v.mp4?X-Amz-Signature=dead&foo=bar", "http://h/v.mp4?X-Amz-Signature=***&foo=bar"),
        ("https://h/p?api_key=zzz#frag", "https://h/p?api_key=***#frag"),
        ("https://h/watch?v=abc&sig=qq", "https://h/watch?v=abc&sig=***"),
        ("Authorization: Bearer mj_abcdefghijklmnop", "Authorization: Bearer ***"),
        ("nothing secret: https://h/a?b=c", "nothing secret: https://h/a?b=c"),
        ("http://bob:p@ss@w0rd@host/x", "http://***@host/x"),  # a raw `@` in the password: to the last
        ("http://host/a@b and mail bob@example.com", "http://host/a@b and mail bob@example.com"),
        ("http://host?to=a@b#c@d", "http://host?to=a@b#c@d"),  # an `@` after the authority is no userinfo
    ],
)
def test_redact(text: str, expected: str) -> None:
    """Each secret-bearing form is masked; ordinary URLs are left as they are."""
    assert redact(text) == expected


def test_every_service_log_line_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """`configure_logging` (used by every service) masks secrets in formatted log records."""
    configure_logging("test")
    try:
        logging.getLogger("mediajobs.test").warning(
            "downloading %s", "https://me:hunter2@h.example/f?token=t0k"
        )
        err = capsys.readouterr().err
        assert "hunter2" not in err
        assert "t0k" not in err
        assert "https://***@h.example/f?token=***" in err
    finally:
        for handler in logging.getLogger().handlers[:]:
            logging.getLogger().removeHandler(handler)
