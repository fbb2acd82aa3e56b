"""JSON request bodies are read strictly, before any route sees them, and one that cannot be read is a 422
problem saying what is wrong and where — on every route, as a body over the size limit is a 413 everywhere
(`gateway.body_limit`).

Python's JSON reader, which FastAPI uses, takes things a client cannot have meant and fails on others with
no reason FastAPI passes on ("There was an error parsing the body", a 400):
- bytes that are not UTF-8 (it decodes with `surrogatepass`: an encoded lone surrogate got through);
- nesting deep enough to exhaust its recursion (`[[[[…`: RecursionError);
- integers past Python's int-from-string limit (4300 digits: ValueError);
- a key twice in one object: the last one silently won (`{"job_type": "echo", "job_type": …}` made the
  second kind of job).
Here each is refused with its reason (`UnreadableBody`), and a syntax error or a body cut short says where
(line and column). The body the route then reads is the one checked here, unchanged.

FastAPI reads the body again for its route: it offers no way to hand it the value read here but a route
class on every router, and this applies to every route, those to come included. Its second reading is its C
reader's alone; the cost of both on a typical submission (214 bytes) was 10-18 µs against 6 µs for FastAPI's
alone (median, a busy 2-core machine), and a whole submission took ~2.6 ms either way. Bodies over
`THREAD_ABOVE` bytes are read here on a worker thread (the reader lets other threads have the interpreter
at each object it makes: the event loop goes on serving meanwhile).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from gateway.body_limit import replaying
from gateway.problems import problem_response
from jobcommon.errors import ClientError

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_DEPTH = 512
"""Arrays and objects nest at most this deep in a body. Far beyond what any request needs (a job's payload
is capped at 32 levels by its model, with a reason of its own) and far within what the parser's recursion
takes."""
MAX_MEMBERS = 1_000
"""An object in a body holds at most this many members. No request needs more (a job's fields are a few
dozen; its payload is capped at 64 KiB by its model); an object of 60,000 unknown fields held the event loop
for ~0.5 s in FastAPI's own validation (60,000 errors made, then rebuilt) before any of the gateway's code
ran."""
THREAD_ABOVE = 64 * 1024
"""Bodies larger than this are checked on a worker thread."""
EXCERPT = 40
"""At most this many characters of the client's own input are quoted back (a key, a header value)."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
"""Brackets as signed bytes: +1 for an opening one, -1 for a closing one."""


class UnreadableBody(ClientError):
    """The body says it is JSON but cannot be read as such: `msg` says why, `loc` where (`body`, then the
    keys of the object holding a duplicate), `kind` is its error type in the problem's `errors`."""

    def __init__(self, msg: str, kind: str, loc: tuple[str | int, ...] = ("body",)) -> None:
        super().__init__(f"{'.'.join(str(part) for part in loc)}: {msg}")
        self.msg = msg
        self.kind = kind
        self.loc = loc


class _Duplicate(Exception):
    """Raised by the object hook; the path of the object is found afterwards (`_first_duplicate`)."""


class _TooManyMembers(Exception):
    """Raised by the object hook for an object of more than `MAX_MEMBERS` members."""


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this media type as JSON: `application/json` or `application/*+json`,
    parameters and case aside (its reading of the header, `email.message`'s)."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type.count("/") != 1:
        return False
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def read_json(body: bytes) -> Any:
    """The body's value, read as FastAPI would read it but strictly; UnreadableBody says why it cannot be."""
    text = _decoded(body)
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise _too_deep()
    try:
        return _parsed(text, _STRICT)
    except _TooManyMembers:
        raise UnreadableBody(
            f"an object in the body has more than {MAX_MEMBERS} members", "json_too_many_members"
        ) from None
    except _Duplicate:
        raise _first_duplicate(_parsed(text, _KEEPING)) from None


def _parsed(text: str, decoder: json.JSONDecoder) -> Any:
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as exc:
        what = exc.msg.removesuffix(" at")  # "Unterminated string starting at": the place follows
        raise UnreadableBody(
            f"the body is not valid JSON: {what} at line {exc.lineno} column {exc.colno}", "json_invalid"
        ) from None
    except RecursionError:  # within MAX_DEPTH: only if the stack was already deep
        raise _too_deep() from None
    except ValueError:  # the scanner's int(): more digits than sys.get_int_max_str_digits()
        raise _too_many_digits(text) from None


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(pairs) > MAX_MEMBERS:
        raise _TooManyMembers
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _Duplicate
    return value


def _decoded(body: bytes) -> str:
    """UTF-8 (a byte order mark is skipped), or UTF-16 or UTF-32 as Python's reader detects them; strictly:
    neither invalid bytes nor encoded surrogates."""
    encoding = json.detect_encoding(body)
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        name = {"utf-8-sig": "utf-8"}.get(encoding, encoding).upper()
        what = (
            f"it ends within a character, at offset {exc.start}"
            if exc.reason in ("unexpected end of data", "truncated data")
            else f"byte 0x{body[exc.start]:02x} at offset {exc.start}"
        )
        raise UnreadableBody(f"the body is not valid {name} ({what})", "unicode_invalid") from None


def _depth(text: str) -> int:
    """How deep arrays and objects nest in `text`, brackets within strings aside, in passes at C speed (a
    body nesting 100,000 deep is told in ~10 ms); called only for bodies with more than MAX_DEPTH opening
    brackets. Escaped backslashes, then escaped quotes, are dropped, so that every quote left opens or
    closes a string: what is outside strings is every other piece between quotes."""
    data = text.encode("utf-8", "surrogatepass").replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(data.split(b'"')[::2]).translate(_STEPS, _NOT_BRACKETS)
    return max(accumulate(memoryview(brackets).cast("b")), default=0)


def _too_deep() -> UnreadableBody:
    return UnreadableBody(f"the body nests deeper than {MAX_DEPTH} levels", "json_too_deep")


def _too_many_digits(text: str) -> UnreadableBody:
    limit = sys.get_int_max_str_digits()
    blanked = _STRING.sub(lambda string: " " * len(string.group()), text)  # digits within strings aside
    found = re.search(rf"\d{{{limit + 1},}}", blanked)
    where = ""
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - text.rfind("\n", 0, found.start())
        where = f" (at line {line} column {column})"
    return UnreadableBody(f"a number in the body has more than {limit} digits{where}", "number_too_long")


class _Pairs(list[tuple[str, Any]]):
    """An object as read, duplicates kept."""


_STRICT = json.JSONDecoder(object_pairs_hook=_object)
_KEEPING = json.JSONDecoder(object_pairs_hook=_Pairs)


def _first_duplicate(value: Any) -> UnreadableBody:
    """Where the first object, in document order, holds a key twice: `value` is the body read again with
    every key kept (only for a body already refused for a duplicate)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(("body",), value)]
    while stack:
        loc, item = stack.pop()
        if isinstance(item, _Pairs):
            keys = [key for key, _ in item]
            seen: set[str] = set()
            for key in keys:
                if key in seen:
                    times = keys.count(key)
                    said = "twice" if times == 2 else f"{times} times"
                    return UnreadableBody(
                        f"the key {_quoted(key)} appears {said}", "duplicate_key", _shortened(loc)
                    )
                seen.add(key)
            stack.extend(((*loc, key), inner) for key, inner in reversed(item))
        elif isinstance(item, list):
            stack.extend(((*loc, index), inner) for index, inner in reversed(list(enumerate(item))))
    raise AssertionError("no duplicate key found in a body refused for one")  # pragma: no cover


def _quoted(text: str) -> str:
    return repr(text) if len(text) <= EXCERPT else repr(text[:EXCERPT]) + "…"


def _shortened(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """`loc` with long keys cut, and the middle of a long path left out."""
    parts = tuple(
        part if isinstance(part, int) or len(part) <= EXCERPT else part[:EXCERPT] + "…" for part in loc
    )
    return parts if len(parts) <= 16 else (*parts[:8], "…", *parts[-7:])


def unreadable(exc: UnreadableBody) -> Response:
    """The 422 problem for a body that cannot be read, shaped as every other 422 of the gateway."""
    return problem_response(
        422, detail=str(exc), errors=[{"loc": list(exc.loc), "msg": exc.msg, "type": exc.kind}]
    )


class JsonBodies:
    """ASGI middleware: a request whose Content-Type is JSON has its body read here and checked with
    `read_json`; refused with its reason (422), or handed on as it was sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_json(_header(scope, b"content-type")):
            await self.app(scope, receive, send)
            return
        whole = await _whole_body(receive)
        if whole["type"] != "http.request":
            return  # the client left before its body was complete; nobody is there to answer
        body: bytes = whole["body"]
        if body:
            try:
                if len(body) > THREAD_ABOVE:
                    await asyncio.to_thread(read_json, body)
                else:
                    read_json(body)
            except UnreadableBody as exc:
                await unreadable(exc)(scope, receive, send)
                return
        await self.app(scope, replaying(whole, receive), send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _whole_body(receive: Receive) -> Message:
    """The whole body as one `http.request` message, or the `http.disconnect` that cut it short (its size is
    bounded by `gateway.body_limit`, outside)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(parts), "more_body": False}
