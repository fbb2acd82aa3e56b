"""Request bodies larger than `max_body_bytes` are refused with 413 (a problem body) before any route sees
them, whatever the route, its method or the body's media type: by their Content-Length when they declare
one; a body without one (`Transfer-Encoding: chunked`) is read here first, at most `max_body_bytes` of it,
and refused as soon as it passes the limit.

Reading the undeclared body here rather than limiting it while the route reads it is what makes the answer
a 413 everywhere: a route that parses its body (FastAPI's JSON and form parsing) turns any error raised while
reading into its own 400 ("There was an error parsing the body"), and a route that never reads its body would
answer as if the body were fine. The route would have held the same bytes in memory. What the client goes on
sending after the 413 is read and dropped by the server (the connection stays usable, as after a 413 for a
declared length)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.problems import problem_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)  # the server delivers no more than it declares
            return
        first = await self._read_within_limit(receive)
        if first is None:
            await self._refuse(scope, receive, send)
        elif first["type"] == "http.request":
            await self.app(scope, replaying(first, receive), send)
        # else: the client left before its body was complete; nobody is there to answer

    async def _read_within_limit(self, receive: Receive) -> Message | None:
        """The whole body as one `http.request` message (or the `http.disconnect` that cut it short); None
        once it passes the limit (the rest is not read)."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            part = message.get("body", b"")
            size += len(part)
            if size > self.max_bytes:
                return None
            parts.append(part)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(parts), "more_body": False}

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body larger than {self.max_bytes} bytes"
        await problem_response(413, "Payload Too Large", detail)(scope, receive, send)


def replaying(first: Message, receive: Receive) -> Receive:
    """`receive` that hands out the body read ahead, then the server's own messages (a disconnect)."""
    pending: list[Message] = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
