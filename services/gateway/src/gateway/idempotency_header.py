"""The `Idempotency-Key` header of a submission, given at most once.

FastAPI reads a header parameter declared as one string from the first of its lines: a request with two
`Idempotency-Key` lines was taken with the first key, silently, while the same two keys folded into one line
(`a, b`) were refused for the comma. Two keys cannot both be honoured, so either way it is a 422 that says
so (`loc` `["header", "idempotency-key"]`, type `header_repeated`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.exceptions import RequestValidationError

NAME = "idempotency-key"


def _idempotency_key(
    request: Request,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> str | None:
    given = len(request.headers.getlist(NAME))
    if given > 1:
        raise RequestValidationError(
            [
                {
                    "loc": ("header", NAME),
                    "msg": f"Idempotency-Key was given {given} times; send it once",
                    "type": "header_repeated",
                }
            ]
        )
    return idempotency_key


IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]
"""A route's `Idempotency-Key` (None without one); a 422 when the header is given more than once."""
