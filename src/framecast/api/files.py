"""``GET /files/{key}``: the blob store's files behind the API's own signed, expiring URLs
(``blobs/signing.py``): the local store's, and an object store's that does not presign (read
from the store). Errors are ``{"error": {code, type, param, message}}``."""

from __future__ import annotations

import mimetypes
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from framecast.core.errors import StorageError


def add_routes(app: FastAPI) -> None:
    """``GET /files/{key}`` on ``app`` itself (not an included router, which FastAPI matches
    through one more layer: see ``ops.add_routes``)."""
    app.add_api_route("/files/{key:path}", serve_file, methods=["GET"],
                      include_in_schema=False)


async def serve_file(key: str, request: Request, expires: int = 0, sig: str = "") -> Any:
    """The file under ``key`` when ``expires`` and ``sig`` verify; 403 or 404 otherwise."""
    storage = request.app.state.runtime.storage
    try:
        valid = storage.verify(key, expires, sig)
        path = storage.local_path(key)
    except ValueError:
        valid = False
    if not valid:
        return JSONResponse(status_code=403, content={"error": {
            "code": "AccessDenied", "type": "Forbidden", "param": "sig",
            "message": "The file URL is invalid or has expired."}})
    media_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    if path is not None:
        if path.is_file():
            return FileResponse(path, media_type=media_type)
        return _missing()
    asked = _byte_range(request.headers.get("range"))
    try:
        size, chunks = await anyio.to_thread.run_sync(
            storage.open_read, key, *(asked or (0, None)))
    except StorageError as exc:
        try:
            gone = not await anyio.to_thread.run_sync(storage.exists, key)
        except StorageError:
            gone = False
        if gone:
            return _missing()
        return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={"error": {
            "code": "ServiceUnavailable", "type": "ServiceUnavailable", "param": "key",
            "message": exc.message}})
    headers = {"Accept-Ranges": "bytes"}
    if asked is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(chunks, media_type=media_type, headers=headers)
    start, end = asked[0], min(asked[1] or size, size)
    if start >= size:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    headers.update({"Content-Range": f"bytes {start}-{end - 1}/{size}",
                    "Content-Length": str(end - start)})
    return StreamingResponse(chunks, status_code=206, media_type=media_type, headers=headers)


def _byte_range(header: str | None) -> tuple[int, int | None] | None:
    """``Range: bytes=a-b`` or ``bytes=a-`` as (start, end exclusive); None for no header or
    one this proxy does not serve partially (several ranges, suffixes: the whole file)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header.removeprefix("bytes=").strip().partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    if last and int(last) < int(first):
        return None
    return int(first), int(last) + 1 if last else None


def _missing() -> JSONResponse:
    return JSONResponse(status_code=404, content={"error": {
        "code": "ResourceNotFound", "type": "NotFound", "param": "key",
        "message": "The file does not exist (the task may have been deleted)."}})
