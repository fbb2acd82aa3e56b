"""The browser dashboard at /ui/: a static page and small ES modules (no build step) that call the JSON API.

Logging in puts the API key in an HttpOnly, SameSite=Strict cookie (`auth.KEY_COOKIE`) that `auth.py` accepts
in place of the Bearer header; the page's unsafe requests add `X-Mediajobs-CSRF: 1`. Every /ui answer carries
a strict Content-Security-Policy: scripts, styles, images and connections from this origin only, no inline
script, no framing.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse

from gateway.api_keys import KeyStore
from gateway.auth import KEY_COOKIE, Caller
from gateway.dashboard_files import router as files_router
from gateway.problems import problem_response

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSETS = {
    path.relative_to(STATIC).as_posix(): path
    for path in sorted(STATIC.rglob("*"))
    if path.is_file() and path.suffix in MEDIA_TYPES and path.name != "index.html"
}
"""Every file the dashboard serves, fixed when the module loads (no path from a request reaches the disk)."""

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would send `Origin: null` with the login form
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
COOKIE_MAX_AGE_S = 7 * 86400
MAX_KEY_LENGTH = 200

router = APIRouter(prefix="/ui", tags=["dashboard"], include_in_schema=False)
router.include_router(files_router)


def _page(path: Path) -> FileResponse:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)


@router.get("")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=308)


@router.api_route("/", methods=["GET", "HEAD"])
async def index() -> FileResponse:
    """The dashboard's one HTML page; the modules route between its views by the URL's fragment."""
    return _page(STATIC / "index.html")


@router.api_route("/static/{name:path}", methods=["GET", "HEAD"], response_model=None)
async def asset(name: str) -> Response:
    path = ASSETS.get(name)
    if path is None:
        return problem_response(404, detail="no such dashboard file")
    return _page(path)


def _same_origin(request: Request) -> bool:
    """No `Origin` (not a browser's cross-site form), or this very host: another site cannot log the browser
    in with a key of its choosing (login CSRF)."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    """The login form (`api_key`, urlencoded): a valid key is set as the cookie and the browser goes to the
    dashboard; an unknown one goes back to the login form with `?login=failed`. A form posted from another
    site is refused (403)."""
    if not _same_origin(request):
        return problem_response(403, detail="the login form must be posted from this dashboard")
    try:
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=5)
    except ValueError:  # more fields than that: no login form's
        return problem_response(422, detail="the login form takes one field, api_key (more than 5 were sent)")
    secret = (form.get("api_key") or [""])[0].strip()
    store: KeyStore = request.app.state.keys
    valid = 0 < len(secret) <= MAX_KEY_LENGTH and await store.lookup(secret) is not None
    if not valid:
        return RedirectResponse("/ui/?login=failed", status_code=303, headers=SECURITY_HEADERS)
    response = RedirectResponse("/ui/", status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        KEY_COOKIE,
        secret,
        max_age=COOKIE_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", status_code=204)
async def logout(request: Request) -> Response:
    response = Response(status_code=204, headers=SECURITY_HEADERS)
    response.delete_cookie(
        KEY_COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.get("/whoami")
async def whoami(key: Caller, request: Request) -> dict[str, str | bool]:
    """Who the page is logged in as: the key's name, owner and role (what the page offers depends on it)."""
    return {
        "name": key.name,
        "owner": key.owner,
        "role": key.role.value,
        "key_id": key.id,
        "auth": bool(request.app.state.settings.auth),
    }
