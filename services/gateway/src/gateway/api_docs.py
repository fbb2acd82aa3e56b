"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), for GET /openapi.json — served
whole by the gateway: their JavaScript and CSS are the files the pinned `fastapi-offline` package ships (no
CDN, so they work offline and run no third-party code fetched at view time), and their own page and start-up
script are this package's (`docs_static/`: no inline script). Each answer carries a Content-Security-Policy
that admits this origin only (ReDoc: also the inline styles it writes and the worker it starts from a blob).

One change to a shipped file: ReDoc's sidebar footer ("API docs by Redocly") draws a logo from
`REDOC_LOGO`, a third-party URL the page's CSP refuses (a console error on every load, a missing image).
`redoc.standalone.js` is served with that image's address emptied: ReDoc then drops the image (its own
fallback when the logo cannot load), no request leaves the host, and the footer keeps its text link.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from gateway.problems import problem_response

OWN = Path(__file__).parent / "docs_static"
SHIPPED = Path(fastapi_offline.__file__).parent / "static"

ASSETS = {
    "swagger-ui-bundle.js": SHIPPED / "swagger-ui-bundle.js",
    "swagger-ui.css": SHIPPED / "swagger-ui.css",
    "redoc.standalone.js": SHIPPED / "redoc.standalone.js",
    "favicon.png": SHIPPED / "favicon.png",
    "swagger-init.js": OWN / "swagger-init.js",
}
"""Every file the pages load, fixed when the module loads (no path from a request reaches the disk)."""
REDOC_LOGO = b'"https://cdn.redoc.ly/redoc/logo-mini.svg"'
"""The footer logo's address in ReDoc's bundle (a JavaScript string literal)."""
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}

_STRICT = [
    "default-src 'none'",
    "script-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
]
SWAGGER_CSP = "; ".join([*_STRICT, "style-src 'self'"])
REDOC_CSP = "; ".join([*_STRICT, "style-src 'self' 'unsafe-inline'", "worker-src blob:"])
"""ReDoc styles its page with <style> elements it writes (styled-components) and searches in a worker."""


def _headers(csp: str, cache: str = "no-cache") -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cache-Control": cache,
    }


router = APIRouter(include_in_schema=False)


def _without_third_party_logo(script: bytes) -> bytes:
    """ReDoc's bundle with the footer logo's address emptied (an image without an address fails at once,
    without a request, and ReDoc then leaves it out)."""
    return script.replace(REDOC_LOGO, b'""')


REDOC_BUNDLE = _without_third_party_logo(ASSETS["redoc.standalone.js"].read_bytes())
"""Read and changed once, when the module loads (not on the event loop)."""
REDOC_ETAG = f'"{hashlib.sha256(REDOC_BUNDLE).hexdigest()[:32]}"'


def _file(path: Path, csp: str) -> FileResponse:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=_headers(csp))


def _redoc_bundle(request: Request) -> Response:
    """The changed bundle, revalidated by its ETag like the files served from disk."""
    headers = {**_headers(SWAGGER_CSP), "ETag": REDOC_ETAG}
    if REDOC_ETAG in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(REDOC_BUNDLE, media_type=MEDIA_TYPES[".js"], headers=headers)


@router.api_route("/docs", methods=["GET", "HEAD"])
async def swagger_ui() -> FileResponse:
    return _file(OWN / "swagger.html", SWAGGER_CSP)


@router.api_route("/redoc", methods=["GET", "HEAD"])
async def redoc() -> FileResponse:
    return _file(OWN / "redoc.html", REDOC_CSP)


@router.api_route("/docs/assets/{name}", methods=["GET", "HEAD"], response_model=None)
async def asset(name: str, request: Request) -> Response:
    if name == "redoc.standalone.js":
        return _redoc_bundle(request)
    path = ASSETS.get(name)
    if path is None:
        return problem_response(404, detail="no such documentation file")
    return _file(path, SWAGGER_CSP)
