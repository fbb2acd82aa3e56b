"""Who is calling: the API key of a request (`Authorization: Bearer <key>` or `X-API-Key`), as a FastAPI
dependency. Without a valid key a route answers 401 (`WWW-Authenticate: Bearer`); with a key whose role is
too low, 403. With `AUTH=off` (a trusted network) every caller is the admin `local`, and a warning says so
at every start.

The dashboard's browser sends the key in the HttpOnly cookie `mediajobs_key` instead (set by POST /ui/login).
A cookie rides along on any request the browser makes, so a cookie-authenticated unsafe request (anything but
GET, HEAD, OPTIONS) must also carry `X-Mediajobs-CSRF: 1` — a header no other site's page can add without a
CORS preflight — or it is refused with 403 (cross-site request forgery). Header-authenticated requests are
unaffected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from gateway.api_keys import ApiKey, KeyStore, Role
from jobcommon.errors import Forbidden, Unauthenticated

KEY_COOKIE = "mediajobs_key"
CSRF_HEADER = "X-Mediajobs-CSRF"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

AUTH_OFF = ApiKey(
    id="auth-off", name="AUTH=off", owner="local", role=Role.ADMIN, created_at=datetime.now(UTC)
)


def _secret(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return x_api_key.strip() if x_api_key else None


async def optional_caller(request: Request) -> ApiKey | None:
    """The caller's key, or None without a valid one. (The headers are read here rather than declared as
    parameters: FastAPI would validate each on every request, and they are not part of the API's schema.)"""
    if not request.app.state.settings.auth:
        return AUTH_OFF
    secret = _secret(request.headers.get("authorization"), request.headers.get("x-api-key"))
    if not secret and (cookie := request.cookies.get(KEY_COOKIE)):
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
            raise Forbidden(
                f"a request authenticated by the dashboard's cookie needs the header {CSRF_HEADER}: 1"
            )
        secret = cookie.strip()
    if not secret or len(secret) > 200:
        return None
    store: KeyStore = request.app.state.keys
    return await store.lookup(secret)


async def caller(key: Annotated[ApiKey | None, Depends(optional_caller)]) -> ApiKey:
    if key is None:
        raise Unauthenticated(
            "a valid API key is required (Authorization: Bearer <key>, X-API-Key, or the dashboard's login)"
        )
    return key


Caller = Annotated[ApiKey, Depends(caller)]
OptionalCaller = Annotated[ApiKey | None, Depends(optional_caller)]


ROLE_CHECKS: dict[Callable[..., object], Role] = {}
"""Each dependency made by `needs`, with the role it requires (what the OpenAPI document says of a route)."""


def needs(role: Role) -> object:
    """A dependency that admits keys of `role` or higher."""

    async def check(key: Caller) -> ApiKey:
        if not key.allows(role):
            raise Forbidden(f"this API key's role ({key.role}) does not allow this; it needs {role}")
        return key

    ROLE_CHECKS[check] = role
    return Depends(check)


Submitter = Annotated[ApiKey, needs(Role.SUBMIT)]
Admin = Annotated[ApiKey, needs(Role.ADMIN)]
