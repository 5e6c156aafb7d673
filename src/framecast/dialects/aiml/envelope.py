"""The AI/ML API error envelope: ``{"message", "path", "requestId", "statusCode",
"timestamp"}`` (plus ``param``, the field at fault).

The mechanism is ``edge.envelope``'s; this module words a ``Problem`` the vendor's way:

* an input error → 400 ``"Body validation error!"`` (``"Query validation error!"`` on a GET)
  followed by a zod-style line ``<field>: <what is wrong>``; fetch failures and oversized
  inputs keep their own message (413 for the latter);
* an unknown model (``NotFound`` on ``model``) → 400, as the vendor's schema rejects it;
* a known path with a wrong method → 405 ``Cannot <METHOD> <path>``; anything unexpected →
  500 ``Internal server error``.

The core's ``images`` is AI/ML's ``image_url``, ``ratio`` its ``aspect_ratio``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import JSONResponse

from framecast.core.errors import FetchFailed, InvalidInput, NotFound, PayloadTooLarge
from framecast.dialects.aiml import wire
from framecast.edge.envelope import Envelope, Problem

PARAMS: dict[str, str] = {"images": "image_url", "ratio": "aspect_ratio", "id": "generation_id"}


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


def validation_message(method: str, param: str, detail: str) -> str:
    """``Body validation error!`` and a zod-style line naming the field."""
    head = "Query validation error!" if method == "GET" else "Body validation error!"
    return f"{head}\n{param}: {detail}"


def render(problem: Problem, request: Request) -> JSONResponse:
    """``problem`` in the AI/ML envelope."""
    path, param, status, message = request.url.path, problem.param, problem.status, \
        problem.message
    if problem.source == "validation":
        detail = "Required" if problem.reason == "missing" else problem.detail
        message = validation_message(request.method, param or "body", detail)
    elif problem.source == "method":
        message = f"Cannot {problem.method} {problem.path}"
    elif problem.source == "internal":
        message = "Internal server error"
    elif problem.source == "error":
        exc = problem.error
        if isinstance(exc, NotFound) and param == "model":
            status = 400
        if status == 400 and not isinstance(exc, FetchFailed | PayloadTooLarge) \
                and (isinstance(exc, InvalidInput) or param == "model"):
            message = validation_message(request.method, param or "body", problem.message)
    return envelope(status, message, path=path, param=param, headers=problem.headers or None)


ENVELOPE = Envelope("aiml", render, params=PARAMS, no_retry=True)
