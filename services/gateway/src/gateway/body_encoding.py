"""The gateway takes request bodies as they are, without a content coding: a body sent with a
`Content-Encoding` other than `identity` (gzip, br, deflate, zstd, …) is refused with 415 before any route
sees it, with `Accept-Encoding: identity` as RFC 9110 (15.5.16) asks.

Nothing read the header before: a body declared gzip was read as if it were not (a real gzip body as
garbage, a plain one accepted as if it had been decoded). Decoding is not offered: request bodies are small
(`MAX_BODY_BYTES`), and every coding would need its decompressed size bounded against bombs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.problems import problem_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

EXCERPT = 40
"""At most this many characters of the header are quoted back."""


def codings(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """The content codings a request declares for its body, in order (`identity` left out)."""
    declared: list[str] = []
    for name, value in headers:
        if name == b"content-encoding":
            declared += [part.strip().lower() for part in bytes(value).decode("latin-1").split(",")]
    return [coding for coding in declared if coding and coding != "identity"]


def has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request carries a body: a Content-Length other than 0, or a Transfer-Encoding."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and bytes(value).strip() != b"0"):
            return True
    return False


class IdentityBodies:
    """ASGI middleware: refuses (415) a request whose body has a content coding."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (declared := codings(scope["headers"])) and has_body(scope["headers"]):
            said = ", ".join(declared)
            said = said if len(said) <= EXCERPT else said[:EXCERPT] + "…"
            detail = (
                f"the gateway takes request bodies unencoded (Content-Encoding: {said!r} is not supported): "
                "send the body as it is, without Content-Encoding"
            )
            response = problem_response(415, detail=detail, headers={"Accept-Encoding": "identity"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
