"""Search tokens: the lower-case words a job can be found by (URL host and path, title, error text).

A job's tokens are computed here, in Python, and handed to the job-state scripts, which add the job to each
token's sorted set (`keys.search_token`) in the same atomic step that creates or ends it. A job holds at most
`TOKEN_LIMIT` tokens; a query at most `QUERY_TOKEN_LIMIT`.

Secrets are never indexed: a job's text is read as `jobcommon.redaction.redact` shows it, so the user and
password of `https://user:pw@host/a.mp4` or a `?token=` value in an error message find nothing (the host and
the path still find the job).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from jobcommon.redaction import redact

TOKEN_LIMIT = 32
"""Most tokens one job is indexed under (the first ones found: URL, then title, then error)."""
QUERY_TOKEN_LIMIT = 8
MAX_QUERY_LENGTH = 200
MIN_TOKEN_LENGTH = 2
MAX_TOKEN_LENGTH = 40
STOP_WORDS = frozenset({"http", "https", "www"})
_WORD = re.compile(r"[^\W_]+")
_URL_FIELDS = ("url", "source", "sources", "path", "webpage_url")
_TITLE_FIELDS = ("title", "name")


def words(text: str) -> list[str]:
    """The distinct searchable words of `text`, in order: case-folded runs of letters and digits."""
    found: list[str] = []
    for run in _WORD.findall(text.casefold()):
        word = run[:MAX_TOKEN_LENGTH]
        if len(word) >= MIN_TOKEN_LENGTH and word not in STOP_WORDS and word not in found:
            found.append(word)
    return found


def shown_words(text: str) -> list[str]:
    """The words of `text` as people are shown it: its secrets masked first (`redact`)."""
    return words(redact(text))


def url_words(url: str) -> list[str]:
    """Words of a URL's host and path (the scheme, credentials, query and fragment are left out)."""
    url = redact(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return words(url)
    if not parts.netloc:
        return words(unquote(url))
    return words(f"{parts.hostname or ''} {unquote(parts.path)}")


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value[:20]:
            yield from _strings(item)
    elif isinstance(value, Mapping):
        for name in (*_URL_FIELDS, *_TITLE_FIELDS):
            if isinstance(value.get(name), str):
                yield value[name]


def _bounded(groups: Iterable[list[str]]) -> list[str]:
    tokens: list[str] = []
    for group in groups:
        for token in group:
            if token not in tokens:
                tokens.append(token)
                if len(tokens) == TOKEN_LIMIT:
                    return tokens
    return tokens


def request_tokens(request: Mapping[str, Any]) -> list[str]:
    """Tokens of a submitted job: its URL(s) or sources, then a title or name it carries."""
    groups = [url_words(text) for name in _URL_FIELDS for text in _strings(request.get(name))]
    groups += [shown_words(text) for name in _TITLE_FIELDS for text in _strings(request.get(name))]
    return _bounded(groups)


def outcome_tokens(result: Mapping[str, Any] | None, error: Mapping[str, Any] | None) -> list[str]:
    """Tokens an ending adds: the result's title (its own or its info's) and the error's type and message."""
    groups: list[list[str]] = []
    if result:
        for holder in (result, result.get("info"), result.get("file")):
            if isinstance(holder, Mapping) and isinstance(holder.get("title"), str):
                groups.append(shown_words(holder["title"]))
    if error:
        groups.append(shown_words(f"{error.get('type', '')} {error.get('message', '')}"))
    return _bounded(groups)


def query_tokens(q: str) -> list[str]:
    """A search query's tokens (every one must match; the last also as a prefix). ValueError when the query
    is too long, holds too many words, or no searchable word at all."""
    if len(q) > MAX_QUERY_LENGTH:
        raise ValueError(f"at most {MAX_QUERY_LENGTH} characters")
    tokens = words(q)
    if not tokens:
        raise ValueError(f"no searchable word (words of at least {MIN_TOKEN_LENGTH} letters or digits)")
    if len(tokens) > QUERY_TOKEN_LIMIT:
        raise ValueError(f"at most {QUERY_TOKEN_LIMIT} words")
    return tokens
