"""The AceData error envelope: ``{"error": {"code", "message"}, "trace_id"}`` (plus ``param``,
the field at fault). ``mcp-seedance`` reads ``error.code`` and ``error.message`` and turns
401/403 into its authentication error. AceData's codes are snake case and follow the HTTP
status:

    400 bad_request   401 invalid_token   403 forbidden   404 not_found
    405 method_not_allowed   413 request_too_large   429 too_many_requests   500 api_error

The mechanism is ``edge.envelope``'s. The message of one of our errors names the field too,
since ``mcp-seedance`` shows an agent only ``message``; validation errors name the field as
the client wrote it (``content[1].image_url.url``, ``async``). The core's ``images`` and
``fps`` are AceData's (Ark's) ``content`` and ``framespersecond``.
"""

from __future__ import annotations

import uuid

from fastapi import Request
from fastapi.responses import JSONResponse

from framecast.dialects.acedata import wire
from framecast.edge.envelope import Envelope, Problem

CODES: dict[int, str] = {
    400: "bad_request", 401: "invalid_token", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "request_too_large", 415: "bad_request",
    422: "bad_request", 429: "too_many_requests", 504: "timeout",
}
PARAMS: dict[str, str] = {"images": "content", "fps": "framespersecond"}


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


def render(problem: Problem, request: Request) -> JSONResponse:
    """``problem`` in the AceData envelope."""
    message, param = problem.message, problem.param
    if problem.source == "error" and param and param not in message:
        message = f"`{param}`: {message}"    # mcp-seedance shows an agent only `message`
    elif problem.source == "validation":
        if problem.reason == "missing":
            message = f"The request is missing the required field `{param}`."
        elif problem.reason != "json_invalid":
            message = f"The field `{param}` is not valid: {problem.detail}."
    return envelope(problem.status, message, param, problem.headers or None)


ENVELOPE = Envelope("acedata", render, params=PARAMS)
