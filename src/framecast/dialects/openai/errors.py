"""Every OpenAI-dialect error response, made in one place.

``OpenAIRoute`` (the route class of the OpenAI router) catches what a handler raises and
answers with the vendor's envelope ``{"error": {"message", "type", "param", "code"}}``, which
the SDK turns into ``BadRequestError`` / ``AuthenticationError`` / ``NotFoundError`` / … with
``.param`` and ``.code``:

* ``type`` by status: 400/413/415/422 ``invalid_request_error``, 401
  ``authentication_error``, 403 ``permission_error``, 404 ``not_found_error``, 429
  ``rate_limit_error``, 5xx ``server_error``;
* ``code``: ``invalid_value``, ``missing_required_parameter``, ``invalid_api_key``,
  ``model_not_found``, ``rate_limit_exceeded`` …, otherwise the Framecast code in snake case;
* ``Retry-After`` on 429; ``x-should-retry: false`` on a failed generation (the SDK would
  otherwise run a deterministic failure three times);
* ``RequestValidationError`` → 400 naming the field; a known path with a wrong method → 405;
  anything unexpected → 500 ``server_error`` (logged).

Core errors name Ark fields (``content``, ``framespersecond``); ``PARAMS`` renames them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from framecast.core.errors import EngineFailed, FramecastError, NotFound, RateLimited
from framecast.dialects.openai import wire
from framecast.routing import EnvelopeRoute

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 405: "invalid_request_error", 413: "invalid_request_error",
    415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
}
CODES: dict[str, str] = {
    "InvalidParameter": "invalid_value", "MissingParameter": "missing_required_parameter",
    "AuthenticationError": "invalid_api_key", "RequestEntityTooLarge": "request_too_large",
    "RateLimitExceeded": "rate_limit_exceeded", "ResourceNotFound": "not_found",
    "InvalidEndpointOrModel.NotFound": "model_not_found", "InvalidAction": "invalid_state",
}
PARAMS: dict[str, str] = {"content": "input_reference", "framespersecond": "fps",
                          "duration": "seconds", "id": "video_id"}
_MISSING_TYPES = frozenset({"missing", "missing_argument", "missing_keyword_argument"})


def error_type(status: int) -> str:
    """The envelope's ``type`` for an HTTP status."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "server_error" if status >= 500 else "invalid_request_error"


def error_code(code: str) -> str:
    """A Framecast code in the vendor's spelling (``InternalServiceError`` →
    ``internal_service_error``)."""
    if code in CODES:
        return CODES[code]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", code.replace(".", "_")).lower()


def envelope(status: int, message: str, *, param: str | None = None, code: str | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    """An OpenAI error response."""
    body = wire.ErrorEnvelope(error=wire.ErrorBody(message=message, type=error_type(status),
                                                   param=param, code=code))
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"),
                        headers=headers)


def framecast_error_response(exc: FramecastError) -> JSONResponse:
    """The one mapping of Framecast's error family to the OpenAI envelope."""
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if isinstance(exc, EngineFailed):
        headers["x-should-retry"] = "false"
    param = PARAMS.get(exc.param, exc.param) if exc.param else None
    code = "model_not_found" if isinstance(exc, NotFound) and param == "model" \
        else error_code(exc.code)
    return envelope(exc.status, exc.message, param=param, code=code, headers=headers or None)


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """A request FastAPI could not parse: 400 naming the first field at fault."""
    first = exc.errors()[0] if exc.errors() else {"type": "", "loc": ("body",), "msg": ""}
    param = field_path(first.get("loc", ()))
    if first.get("type") in _MISSING_TYPES:
        return envelope(400, f"Missing required parameter: '{param}'.", param=param,
                        code="missing_required_parameter")
    return envelope(400, f"Invalid value for '{param}': {first.get('msg', 'invalid value')}.",
                    param=param, code="invalid_value")


def field_path(loc: Sequence[Any]) -> str:
    """``("query", "limit")`` → ``limit``; ``("body", "image_urls", 1)`` →
    ``image_urls[1]``."""
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


def http_error_response(exc: HTTPException) -> JSONResponse:
    """A Starlette ``HTTPException`` (an unreadable body …) in the OpenAI envelope."""
    param = "body" if exc.status_code in (400, 413, 415) else None
    return envelope(exc.status_code, str(exc.detail), param=param,
                    headers=dict(exc.headers) if exc.headers else None)


class OpenAIRoute(EnvelopeRoute):
    """An ``APIRoute`` whose handler answers every error with the OpenAI envelope."""

    def framecast_error(self, exc: FramecastError, request: Request) -> Response:
        return framecast_error_response(exc)

    def validation_error(self, exc: RequestValidationError, request: Request) -> Response:
        return validation_error_response(exc)

    def http_error(self, exc: HTTPException, request: Request) -> Response:
        return http_error_response(exc)

    def internal_error(self, request: Request) -> Response:
        return envelope(500, "The server had an error while processing your request.",
                        code="server_error")

    def method_not_allowed(self, method: str, path: str, allow: str) -> Response:
        return envelope(405, f"Invalid method for URL ({method} {path}).",
                        code="method_not_allowed", headers={"Allow": allow})
