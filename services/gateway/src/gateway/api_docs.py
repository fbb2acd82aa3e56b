"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), for GET /openapi.json — served
whole by the gateway: their JavaScript and CSS are the files the pinned `fastapi-offline` package ships (no
CDN, so they work offline and run no third-party code fetched at view time), and their own page and start-up
script are this package's (`docs_static/`: no inline script). Each answer carries a Content-Security-Policy
that admits this origin only (ReDoc: also the inline styles it writes and the worker it starts from a blob).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Response
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


def _file(path: Path, csp: str) -> FileResponse:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=_headers(csp))


@router.api_route("/docs", methods=["GET", "HEAD"])
async def swagger_ui() -> FileResponse:
    return _file(OWN / "swagger.html", SWAGGER_CSP)


@router.api_route("/redoc", methods=["GET", "HEAD"])
async def redoc() -> FileResponse:
    return _file(OWN / "redoc.html", REDOC_CSP)


@router.api_route("/docs/assets/{name}", methods=["GET", "HEAD"], response_model=None)
async def asset(name: str) -> Response:
    path = ASSETS.get(name)
    if path is None:
        return problem_response(404, detail="no such documentation file")
    return _file(path, SWAGGER_CSP)
