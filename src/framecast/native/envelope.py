"""The native error envelope: ``{"error": {"code", "message", "param"}}``.

The mechanism is ``edge.envelope``'s: one of our errors keeps its ``status``, ``code`` and
``param`` (``Retry-After`` on 429); a request that cannot be parsed is 400
``InvalidParameter`` / ``MissingParameter`` naming the field as the client wrote it
(``images[1].url``; an unknown field is "not known (misspelt?)"); a known path with another
method is 405 with ``Allow``; anything else 500 ``InternalServiceError``. The native API
speaks the core's own field names, so nothing is renamed.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from framecast.edge.envelope import Envelope, Problem
from framecast.native.wire import ErrorBody, ErrorEnvelope

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


def render(problem: Problem, request: Request) -> JSONResponse:
    """``problem`` in the native envelope."""
    message, param = problem.message, problem.param
    if problem.source == "validation" and problem.reason == "extra_forbidden":
        message = f"The parameter `{param}` is not known (misspelt?)."
    elif problem.source == "http":
        param = None
    return envelope(problem.status, problem.code, message, param, problem.headers or None)


ENVELOPE = Envelope("native", render)
