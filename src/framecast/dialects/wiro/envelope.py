"""Every Wiro error response, made in one place.

The envelope is ``{"result": false, "errors": [{"code", "message"}]}``. As Wiro recommends
(research/api-dialects.md §3.8), business and validation errors answer **HTTP 200** with
``result: false``; authentication answers 401, an unknown route 404 ``"Error parsing url."``,
too many queued tasks 429 (code 96) with ``Retry-After``, a server fault 500. Codes
(Wiro's error reference): 0 validation / general, 1 not found or not allowed now, 96
concurrency limit.

The mechanism is ``edge.envelope``'s; ``render`` words each ``Problem`` Wiro's way:

* ``InvalidInput`` (and ``MissingInput``, ``FetchFailed``, ``PayloadTooLarge``) → 200, code 0,
  the message naming the field in Wiro's words (``Request parameter [seed] ...``);
* ``NotFound`` → 200, code 1 (``There is no task yet.`` / ``slug-owner-project-not-exist``);
* ``InvalidState`` → 200, code 1; ``Unauthorized`` → 401, code 0; ``RateLimited`` → 429;
* ``RequestValidationError`` / ``HTTPException`` → 200 ``Request parameters are invalid.``;
* anything else → 500 (logged).
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import JSONResponse

from framecast.core.errors import (
    FramecastError,
    InvalidInput,
    InvalidState,
    NotFound,
    RateLimited,
    RetryLater,
    Unauthorized,
)
from framecast.edge.envelope import Envelope, Problem

log = logging.getLogger("framecast.wiro")

CODE_GENERAL = 0
CODE_NOT_FOUND = 1
CODE_CONCURRENCY = 96
PARSE_URL_ERROR = "Error parsing url."
INVALID_BODY = "Request parameters are invalid."
NO_TASK = "There is no task yet."
NO_MODEL = "slug-owner-project-not-exist"
INTERNAL = "Internal server error."

# the core's name of a field → the Wiro parameter a client sent
PARAM_NAMES = {"images": "prompt", "camera_fixed": "camerafixed",
               "guidance_scale": "guidanceScale", "callback_url": "callbackUrl",
               "image": "inputImage", "frames": "duration"}


def envelope(code: int, message: str, status: int = 200,
             headers: dict[str, str] | None = None) -> JSONResponse:
    """A Wiro error response."""
    return JSONResponse(status_code=status, headers=headers, content={
        "result": False, "errors": [{"code": code, "message": message}]})


def wiro_message(message: str, param: str | None) -> str:
    """An input error in Wiro's words: its own message when it already names the field,
    else ``Request parameter [<field>] is not valid: <message>``."""
    if message.startswith("Request ") or not param:
        return message
    return f"Request parameter [{param}] is not valid: {message.replace('`', '')}"


def framecast_error_response(exc: FramecastError) -> JSONResponse:
    """The one mapping of Framecast's error family to the Wiro envelope."""
    if isinstance(exc, InvalidInput):
        return envelope(CODE_GENERAL, wiro_message(exc.message, ENVELOPE.param(exc.param)))
    if isinstance(exc, NotFound):
        return envelope(CODE_NOT_FOUND, exc.message)
    if isinstance(exc, InvalidState):
        return envelope(CODE_NOT_FOUND, exc.message)
    if isinstance(exc, Unauthorized):
        return envelope(CODE_GENERAL, exc.message, 401)
    if isinstance(exc, RateLimited):
        return envelope(CODE_CONCURRENCY, exc.message, 429,
                        {"Retry-After": exc.retry_after})
    if isinstance(exc, RetryLater):   # (the store is full or down: passes)
        return envelope(CODE_GENERAL, exc.message, exc.status,
                        {"Retry-After": exc.retry_after})
    log.error("wiro request failed: %s", exc.message)
    return envelope(CODE_GENERAL, exc.message if exc.status < 500 else INTERNAL,
                    exc.status if exc.status >= 400 else 500)


def render(problem: Problem, request: Request) -> JSONResponse:
    """``problem`` in the Wiro envelope (Starlette answers 405s: Wiro has no words for them)."""
    if problem.error is not None:
        return framecast_error_response(problem.error)
    if problem.source == "internal":
        return envelope(CODE_GENERAL, INTERNAL, 500)
    return envelope(CODE_GENERAL, INVALID_BODY)    # validation, HTTP errors


ENVELOPE = Envelope("wiro", render, params=PARAM_NAMES, answers_405=False)
