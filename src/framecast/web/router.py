"""The playground page: ``GET /`` answers ``static/index.html``, ``GET /static/<name>`` its
assets (plain HTML, ES modules and CSS; no build step).

Static files need no key: the page asks for one and sends it as ``Authorization: Bearer`` on
every API call it makes. The page carries a Content-Security-Policy that allows only this
origin's scripts, styles and connections (no inline code), while images and videos may come
from any http(s) origin, because signed output URLs can point at S3 or a CDN.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX_FILE = "index.html"

# Names a request may ask for: one flat folder, no separators, no dot files.
_ASSET_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob: http: https:",     # input thumbnails (data:) and outputs
    "media-src 'self' blob: http: https:",          # output videos, wherever storage is
    "connect-src 'self'",                           # the API is this origin
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",       # signed file URLs must not leak in Referer
    "Cache-Control": "no-cache",            # revalidate (ETag) so upgrades show at once
}
ASSET_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False, tags=["playground"])


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> FileResponse:
    """The playground page."""
    return FileResponse(STATIC_DIR / INDEX_FILE, media_type=_MEDIA_TYPES[".html"],
                        headers=PAGE_HEADERS)


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static_asset(name: str) -> Response:
    """One asset of the page (a flat folder; anything else is 404)."""
    path = STATIC_DIR / name
    media_type = _MEDIA_TYPES.get(path.suffix)
    if not _ASSET_NAME.match(name) or media_type is None or not path.is_file():
        return JSONResponse(status_code=404, content={"detail": "Not Found"})
    return FileResponse(path, media_type=media_type, headers=ASSET_HEADERS)
