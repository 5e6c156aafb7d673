"""``GET /files/{key}``: the local blob store's files, behind the signed, expiring URLs it
hands out (``blobs/local.py``). Errors are ``{"error": {code, type, param, message}}``."""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse


def add_routes(app: FastAPI) -> None:
    """``GET /files/{key}`` on ``app`` itself (not an included router, which FastAPI matches
    through one more layer: see ``ops.add_routes``)."""
    app.add_api_route("/files/{key:path}", serve_file, methods=["GET"],
                      include_in_schema=False)


def serve_file(key: str, request: Request, expires: int = 0, sig: str = "") -> Any:
    """The file under ``key`` when ``expires`` and ``sig`` verify; 403 or 404 otherwise."""
    storage = request.app.state.runtime.storage
    try:
        valid = storage.verify(key, expires, sig)
        path = storage.path(key)
    except ValueError:
        valid = False
    if not valid:
        return JSONResponse(status_code=403, content={"error": {
            "code": "AccessDenied", "type": "Forbidden", "param": "sig",
            "message": "The file URL is invalid or has expired."}})
    if not path.is_file():
        return JSONResponse(status_code=404, content={"error": {
            "code": "ResourceNotFound", "type": "NotFound", "param": "key",
            "message": "The file does not exist (the task may have been deleted)."}})
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)
