"""Walking everything an exception wraps: `__cause__`, `__context__`, and the ways libraries keep causes
(yt-dlp's `exc_info` and `.cause`, urllib's and urllib3's `.reason`, requests' exception arguments)."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_NODES = 64


def _links(exc: BaseException, include_context: bool) -> Iterator[BaseException]:
    exc_info = getattr(exc, "exc_info", None)
    if isinstance(exc_info, tuple) and len(exc_info) >= 2 and isinstance(exc_info[1], BaseException):
        yield exc_info[1]
    for attr in ("cause", "reason"):
        value = getattr(exc, attr, None)
        if isinstance(value, BaseException):
            yield value
    if exc.__cause__ is not None:
        yield exc.__cause__
    if include_context and exc.__context__ is not None:
        yield exc.__context__
    for arg in exc.args:  # requests.ConnectionError(MaxRetryError(...))
        if isinstance(arg, BaseException):
            yield arg


def iter_chain(exc: BaseException, *, include_context: bool = False) -> Iterator[BaseException]:
    """``exc`` and everything it wraps, breadth first, each exception once."""
    seen: set[int] = set()
    queue: deque[BaseException] = deque([exc])
    while queue and len(seen) < MAX_NODES:
        node = queue.popleft()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        queue.extend(_links(node, include_context))
