"""The OpenAI error envelope: ``{"error": {"message", "type", "param", "code"}}``, which the
SDK turns into ``BadRequestError`` / ``AuthenticationError`` / ``NotFoundError`` / … with
``.param`` and ``.code``.

The mechanism is ``edge.envelope``'s; this module words a ``Problem`` the vendor's way:

* ``type`` by status: 400/413/415/422 ``invalid_request_error``, 401
  ``authentication_error``, 403 ``permission_error``, 404 ``not_found_error``, 429
  ``rate_limit_error``, 5xx ``server_error``;
* ``code``: ``invalid_value``, ``missing_required_parameter``, ``invalid_api_key``,
  ``model_not_found``, ``rate_limit_exceeded`` …, otherwise the Framecast code in snake case;
* ``x-should-retry: false`` on a failed generation (the SDK would otherwise run a
  deterministic failure three times).

The core's ``images`` is OpenAI's ``input_reference``, ``duration`` its ``seconds``.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import JSONResponse

from framecast.core.errors import NotFound
from framecast.dialects.openai import wire
from framecast.edge.envelope import Envelope, Problem

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
PARAMS: dict[str, str] = {"images": "input_reference", "duration": "seconds", "id": "video_id"}


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


def render(problem: Problem, request: Request) -> JSONResponse:
    """``problem`` in the OpenAI envelope."""
    param, message, code = problem.param, problem.message, None
    if problem.source == "error":
        code = "model_not_found" if isinstance(problem.error, NotFound) and param == "model" \
            else error_code(problem.code)
    elif problem.source == "validation":
        if problem.reason == "missing":
            message, code = f"Missing required parameter: '{param}'.", \
                "missing_required_parameter"
        else:
            message, code = f"Invalid value for '{param}': {problem.detail}.", "invalid_value"
    elif problem.source == "internal":
        message, code = "The server had an error while processing your request.", "server_error"
    elif problem.source == "method":
        message = f"Invalid method for URL ({problem.method} {problem.path})."
        code = "method_not_allowed"
    return envelope(problem.status, message, param=param, code=code,
                    headers=problem.headers or None)


ENVELOPE = Envelope("openai", render, params=PARAMS, no_retry=True)
