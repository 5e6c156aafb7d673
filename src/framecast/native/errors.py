"""Every native error response, made in one place.

``NativeRoute`` (the route class of the native router) answers whatever a handler raises with
``{"error": {"code", "message", "param"}}``:

* ``FramecastError`` → its ``status``, ``code`` and ``param`` (``Retry-After`` on 429);
* ``RequestValidationError`` → 400 ``InvalidParameter`` / ``MissingParameter`` naming the
  field as the client wrote it (``images[1].url``);
* ``HTTPException`` → its status; a known path with another method → 405 with ``Allow``;
* anything else → 500 ``InternalServiceError`` (logged with its traceback).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from framecast.core.errors import FramecastError, RateLimited
from framecast.native.wire import ErrorBody, ErrorEnvelope
from framecast.routing import EnvelopeRoute

HTTP_CODES: dict[int, str] = {
    400: "InvalidParameter", 401: "AuthenticationError", 403: "AccessDenied",
    404: "ResourceNotFound", 405: "MethodNotAllowed", 413: "RequestEntityTooLarge",
    415: "InvalidParameter", 429: "RateLimitExceeded",
}
_MISSING_TYPES = frozenset({"missing", "missing_argument", "missing_keyword_argument"})

# the shared error responses every route documents
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "A request field is wrong (`param` names it)."},
    401: {"model": ErrorEnvelope, "description": "Missing or invalid API key."},
    404: {"model": ErrorEnvelope, "description": "No such task for this key."},
}


def envelope(status: int, code: str, message: str, param: str | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    """A native error response."""
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, param=param))
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"),
                        headers=headers)


def framecast_error_response(exc: FramecastError) -> JSONResponse:
    """The one mapping of Framecast's error family to the native envelope."""
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return envelope(exc.status, exc.code, exc.message, exc.param, headers)


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "images", 1, "url")`` → ``images[1].url``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """A request FastAPI could not parse: 400 naming the first field at fault."""
    errors = exc.errors()
    first = errors[0] if errors else {"type": "", "loc": ("body",), "msg": ""}
    kind = str(first.get("type", ""))
    param = field_path(first.get("loc", ()))
    if kind == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return envelope(400, "InvalidParameter",
                        f"The request body is not valid JSON ({detail}).", "body")
    if kind in _MISSING_TYPES:
        return envelope(400, "MissingParameter",
                        f"The request is missing the required parameter `{param}`.", param)
    if kind == "extra_forbidden":
        return envelope(400, "InvalidParameter",
                        f"The parameter `{param}` is not known (misspelt?).", param)
    return envelope(400, "InvalidParameter",
                    f"The parameter `{param}` is not valid: {first.get('msg', 'bad value')}.",
                    param)


def http_error_response(exc: HTTPException) -> JSONResponse:
    """A Starlette ``HTTPException`` (an unreadable body, ...) in the native envelope."""
    code = HTTP_CODES.get(exc.status_code, "InternalServiceError")
    return envelope(exc.status_code, code, str(exc.detail), None,
                    dict(exc.headers) if exc.headers else None)


class NativeRoute(EnvelopeRoute):
    """An ``APIRoute`` whose errors are answered in the native envelope."""

    def framecast_error(self, exc: FramecastError, request: Request) -> Response:
        return framecast_error_response(exc)

    def validation_error(self, exc: RequestValidationError, request: Request) -> Response:
        return validation_error_response(exc)

    def http_error(self, exc: HTTPException, request: Request) -> Response:
        return http_error_response(exc)

    def internal_error(self, request: Request) -> Response:
        return envelope(500, "InternalServiceError",
                        "The service encountered an unexpected internal error.")

    def method_not_allowed(self, method: str, path: str, allow: str) -> Response:
        return envelope(405, "MethodNotAllowed",
                        f"The method {method} is not allowed on this path.", None,
                        {"Allow": allow})
