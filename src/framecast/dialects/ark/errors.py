"""Every Ark error response, made in one place.

``ArkRoute`` (the route class of the Ark router) catches what a handler raises and answers
with the vendor's envelope ``{"error": {"code", "message", "param", "type"}}``:

* ``FramecastError`` → its ``status``, ``code`` and ``param``; ``type`` from the status;
  ``Retry-After`` on 429; ``x-should-retry: false`` on a failed generation (the SDKs would
  otherwise re-run a deterministic failure twice).
* ``RequestValidationError`` (malformed JSON, a wrong type, a missing ``model``) → 400
  ``InvalidParameter`` / ``MissingParameter`` naming the field as the client wrote it
  (``content[1].image_url.url``, ``page_num``).
* ``HTTPException`` → its status; a known path with a wrong method → 405; anything else →
  500 ``InternalServiceError`` (logged).

Only Ark paths get this treatment: it lives in the route class, not in app-wide handlers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from framecast.core.errors import EngineFailed, FramecastError, RateLimited
from framecast.dialects.ark import wire
from framecast.routing import EnvelopeRoute

ERROR_TYPES: dict[int, str] = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "BadRequest", 413: "BadRequest", 415: "BadRequest", 422: "BadRequest",
    429: "TooManyRequests", 503: "ServiceUnavailable",
}
HTTP_CODES: dict[int, str] = {
    400: "InvalidParameter", 401: "AuthenticationError", 403: "AccessDenied",
    404: "ResourceNotFound", 405: "MethodNotAllowed", 413: "RequestEntityTooLarge",
    415: "InvalidParameter", 429: "RateLimitExceeded",
}
_MISSING_TYPES = frozenset({"missing", "missing_argument", "missing_keyword_argument"})


def error_type(status: int) -> str:
    """The envelope's ``type`` for an HTTP status (the vendor's "Type" column)."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "InternalServiceError" if status >= 500 else "BadRequest"


def envelope(status: int, code: str, message: str, param: str | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    """An Ark error response."""
    body = wire.ErrorEnvelope(error=wire.ErrorBody(code=code, message=message, param=param,
                                                   type=error_type(status)))
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"),
                        headers=headers)


def framecast_error_response(exc: FramecastError) -> JSONResponse:
    """The one mapping of Framecast's error family to the Ark envelope."""
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if isinstance(exc, EngineFailed):
        headers["x-should-retry"] = "false"
    return envelope(exc.status, exc.code, exc.message, exc.param, headers or None)


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """A request that FastAPI could not parse: 400 naming the first field at fault."""
    first = exc.errors()[0] if exc.errors() else {"type": "", "loc": ("body",), "msg": ""}
    kind = str(first.get("type", ""))
    param = field_path(first.get("loc", ()))
    if kind == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return envelope(400, "InvalidParameter",
                        f"The request body is not valid JSON ({detail}).", "body")
    if kind in _MISSING_TYPES:
        return envelope(400, "MissingParameter",
                        f"The request is missing the required parameter `{param}`.", param)
    return envelope(400, "InvalidParameter",
                    f"The parameter `{param}` specified in the request is not valid: "
                    f"{first.get('msg', 'invalid value')}.", param)


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "content", 1, "image_url", "image_url", "url")`` → ``content[1].image_url.url``.

    Drops the location kind (``body``/``query``/``path``) and the tag pydantic inserts for a
    discriminated union member (the ``image_url`` right after a content index)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    previous: Any = None
    for i, part in enumerate(parts):
        is_tag = (isinstance(previous, int) and isinstance(part, str)
                  and part in wire.CONTENT_TYPES and i + 1 < len(parts))
        if not is_tag:
            if isinstance(part, int):
                out += f"[{part}]" if out else "body"
            else:
                out += f".{part}" if out else str(part)
        previous = part
    return out or "body"


def http_error_response(exc: HTTPException) -> JSONResponse:
    """A Starlette ``HTTPException`` (e.g. an unreadable body) in the Ark envelope."""
    code = HTTP_CODES.get(exc.status_code, "InternalServiceError")
    param = "body" if exc.status_code in (400, 413, 415) else None
    return envelope(exc.status_code, code, str(exc.detail), param,
                    dict(exc.headers) if exc.headers else None)


class ArkRoute(EnvelopeRoute):
    """An ``APIRoute`` whose handler answers every error with the Ark envelope."""

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
