"""Every AI/ML API error response, made in one place.

``AimlRoute`` (the route class of the AI/ML router) catches what a handler raises and answers
with the vendor's envelope ``{"message", "path", "requestId", "statusCode", "timestamp"}``
(plus ``param``, the field at fault):

* ``InvalidInput`` → 400 ``"Body validation error!"`` (``"Query validation error!"`` on a GET)
  followed by a zod-style detail line ``<field>: <what is wrong>``; fetch failures and
  oversized inputs keep their own message (413 for the latter).
* an unknown model (``NotFound`` on ``model``) → 400, as the vendor's schema rejects it;
  other ``FramecastError`` → its status; ``Retry-After`` on 429, ``x-should-retry: false`` on
  a failed generation.
* ``RequestValidationError`` / ``HTTPException`` → 400 naming the field / their status; a known
  path with a wrong method → 405; anything else → 500 (logged).

Core errors name Ark fields (``content``, ``framespersecond``); ``PARAMS`` renames them.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from framecast.core.errors import (
    EngineFailed,
    FetchFailed,
    FramecastError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
)
from framecast.dialects.aiml import wire
from framecast.routing import EnvelopeRoute

PARAMS: dict[str, str] = {"content": "image_url", "framespersecond": "fps",
                          "ratio": "aspect_ratio", "id": "generation_id"}
_MISSING_TYPES = frozenset({"missing", "missing_argument", "missing_keyword_argument"})


def now_iso() -> str:
    """``2025-03-11T07:13:27.813Z``: UTC, milliseconds, a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(status: int, message: str, *, path: str, param: str | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    """An AI/ML error response."""
    body = wire.ErrorEnvelope(message=message, path=path, requestId=str(uuid.uuid4()),
                              statusCode=str(status), timestamp=now_iso(), param=param)
    return JSONResponse(status_code=status, content=body.model_dump(mode="json",
                                                                    exclude_none=True),
                        headers=headers)


def framecast_error_response(exc: FramecastError, request: Request) -> JSONResponse:
    """The one mapping of Framecast's error family to the AI/ML envelope."""
    path = request.url.path
    param = PARAMS.get(exc.param, exc.param) if exc.param else None
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if isinstance(exc, EngineFailed):
        headers["x-should-retry"] = "false"
    status = exc.status
    message = exc.message
    if isinstance(exc, NotFound) and param == "model":
        status = 400
    if status == 400 and not isinstance(exc, FetchFailed | PayloadTooLarge) \
            and (isinstance(exc, InvalidInput) or param == "model"):
        message = validation_message(request.method, param or "body", exc.message)
    return envelope(status, message, path=path, param=param, headers=headers or None)


def validation_message(method: str, param: str, detail: str) -> str:
    """``Body validation error!`` and a zod-style line naming the field."""
    head = "Query validation error!" if method == "GET" else "Body validation error!"
    return f"{head}\n{param}: {detail}"


def validation_error_response(exc: RequestValidationError, request: Request) -> JSONResponse:
    """A request FastAPI could not parse: 400 naming the first field at fault."""
    first = exc.errors()[0] if exc.errors() else {"type": "", "loc": ("body",), "msg": ""}
    param = field_path(first.get("loc", ()))
    detail = "Required" if first.get("type") in _MISSING_TYPES else str(first.get("msg", ""))
    return envelope(400, validation_message(request.method, param, detail),
                    path=request.url.path, param=param)


def field_path(loc: Sequence[Any]) -> str:
    """``("query", "generation_id")`` → ``generation_id``; ``("image_size", "width")`` →
    ``image_size.width``; list indexes as ``[i]``."""
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


def http_error_response(exc: HTTPException, request: Request) -> JSONResponse:
    """A Starlette ``HTTPException`` (an unreadable body …) in the AI/ML envelope."""
    param = "body" if exc.status_code in (400, 413, 415) else None
    return envelope(exc.status_code, str(exc.detail), path=request.url.path, param=param,
                    headers=dict(exc.headers) if exc.headers else None)


class AimlRoute(EnvelopeRoute):
    """An ``APIRoute`` whose handler answers every error with the AI/ML envelope."""

    def framecast_error(self, exc: FramecastError, request: Request) -> Response:
        return framecast_error_response(exc, request)

    def validation_error(self, exc: RequestValidationError, request: Request) -> Response:
        return validation_error_response(exc, request)

    def http_error(self, exc: HTTPException, request: Request) -> Response:
        return http_error_response(exc, request)

    def internal_error(self, request: Request) -> Response:
        return envelope(500, "Internal server error", path=request.url.path)

    def method_not_allowed(self, method: str, path: str, allow: str) -> Response:
        return envelope(405, f"Cannot {method} {path}", path=path, headers={"Allow": allow})
