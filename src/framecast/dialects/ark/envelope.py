"""The Ark error envelope: ``{"error": {"code", "message", "param", "type"}}``.

The mechanism (which error becomes which status, code and field) is ``edge.envelope``'s; this
module dresses a ``Problem`` in the vendor's body, with ``type`` from the status (the
vendor's "Type" column) and ``x-should-retry: false`` on a failed generation (the SDKs would
otherwise re-run a deterministic failure twice). Validation errors name the field as the
client wrote it (``content[1].image_url.url``, ``page_num``); the core's ``images`` and ``fps``
are Ark's ``content`` and ``framespersecond``.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from framecast.dialects.ark import wire
from framecast.edge.envelope import Envelope, Problem

ERROR_TYPES: dict[int, str] = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "BadRequest", 413: "BadRequest", 415: "BadRequest", 422: "BadRequest",
    429: "TooManyRequests", 503: "ServiceUnavailable",
}
PARAMS: dict[str, str] = {"images": "content", "media": "content", "fps": "framespersecond",
                          "draft_task.id": "content[0].draft_task.id"}   # its only item


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


def render(problem: Problem, request: Request) -> JSONResponse:
    """``problem`` in the Ark envelope."""
    message = problem.message
    if problem.source == "validation" and problem.reason in ("invalid", "extra_forbidden"):
        message = (f"The parameter `{problem.param}` specified in the request is not valid: "
                   f"{problem.detail}.")
    return envelope(problem.status, problem.code, message, problem.param,
                    problem.headers or None)


ENVELOPE = Envelope("ark", render, params=PARAMS, union_tags=frozenset(wire.CONTENT_TYPES),
                    no_retry=True)
