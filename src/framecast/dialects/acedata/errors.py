"""Every AceData error response, made in one place.

``AceDataRoute`` (the route class of the AceData router) answers whatever a handler raises
with the vendor's envelope ``{"error": {"code", "message"}, "trace_id"}`` (plus ``param``, the
field at fault). ``mcp-seedance`` reads ``error.code`` and ``error.message`` and turns 401/403
into its authentication error. AceData's codes are snake case and follow the HTTP status:

    400 bad_request   401 invalid_token   403 forbidden   404 not_found
    405 method_not_allowed   413 request_too_large   429 too_many_requests   500 api_error

* ``FramecastError`` → its ``status`` and ``param`` (``Retry-After`` on 429); the message
  names the field too, since ``mcp-seedance`` shows an agent only ``message``.
* ``RequestValidationError`` (malformed JSON, a wrong type, a missing ``model``) → 400
  naming the field as the client wrote it (``content[1].image_url.url``, ``async``).
* ``HTTPException`` → its status; a known path with a wrong method → 405; anything else →
  500 ``api_error`` (logged).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from framecast.core.errors import FramecastError, RateLimited
from framecast.dialects.acedata import wire
from framecast.routing import EnvelopeRoute

CODES: dict[int, str] = {
    400: "bad_request", 401: "invalid_token", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "request_too_large", 415: "bad_request",
    422: "bad_request", 429: "too_many_requests", 504: "timeout",
}
_MISSING_TYPES = frozenset({"missing", "missing_argument", "missing_keyword_argument"})


def error_code(status: int) -> str:
    """AceData's error code for an HTTP status."""
    return CODES.get(status, "api_error" if status >= 500 else "bad_request")


def envelope(status: int, message: str, param: str | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    """An AceData error response (a fresh ``trace_id`` per answer)."""
    body = wire.ErrorEnvelope(error=wire.ErrorBody(code=error_code(status), message=message,
                                                   param=param),
                              trace_id=str(uuid.uuid4()))
    return JSONResponse(status_code=status, content=wire.dump(body), headers=headers)


def framecast_error_response(exc: FramecastError) -> JSONResponse:
    """The one mapping of Framecast's error family to the AceData envelope."""
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    message = exc.message
    if exc.param and exc.param not in message:   # mcp-seedance shows an agent only `message`
        message = f"`{exc.param}`: {message}"
    return envelope(exc.status, message, exc.param, headers)


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """A body FastAPI could not parse: 400 naming the first field at fault."""
    first = exc.errors()[0] if exc.errors() else {"type": "", "loc": ("body",), "msg": ""}
    kind = str(first.get("type", ""))
    param = field_path(first.get("loc", ()))
    if kind == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return envelope(400, f"The request body is not valid JSON ({detail}).", "body")
    if kind in _MISSING_TYPES:
        return envelope(400, f"The request is missing the required field `{param}`.", param)
    return envelope(400, f"The field `{param}` is not valid: "
                         f"{first.get('msg', 'invalid value')}.", param)


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "content", 1, "image_url", "url")`` → ``content[1].image_url.url``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]" if out else "body"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


class AceDataRoute(EnvelopeRoute):
    """An ``APIRoute`` whose handler answers every error with the AceData envelope."""

    def framecast_error(self, exc: FramecastError, request: Request) -> Response:
        return framecast_error_response(exc)

    def validation_error(self, exc: RequestValidationError, request: Request) -> Response:
        return validation_error_response(exc)

    def http_error(self, exc: HTTPException, request: Request) -> Response:
        return envelope(exc.status_code, str(exc.detail),
                        "body" if exc.status_code in (400, 413, 415) else None,
                        dict(exc.headers) if exc.headers else None)

    def internal_error(self, request: Request) -> Response:
        return envelope(500, "The service encountered an unexpected internal error.")

    def method_not_allowed(self, method: str, path: str, allow: str) -> Response:
        return envelope(405, f"The method {method} is not allowed on this path.", None,
                        {"Allow": allow})
