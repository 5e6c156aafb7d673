"""The one place where a handler's errors become an API's own error envelope.

An API package (a dialect, the native API) declares an ``Envelope``: its ``render`` function
and its map from the core's field names to its own. Its router uses ``envelope.route`` as
its route class; everything else happens here, once:

* which exception becomes which ``Problem`` (``FramecastError`` → its status, code and field;
  ``RequestValidationError`` → 400 naming the field as the client wrote it; an
  ``HTTPException`` → its status; anything else → 500, logged with its traceback);
* the field path of a validation error (``content[1].image_url.url``), and the core's field
  names in the API's own words (``fps`` → ``framespersecond`` for Ark);
* ``Retry-After`` on 429 and 503 (``RetryLater``), ``x-should-retry: false`` on a failed
  generation where the API's SDKs would otherwise re-run a deterministic failure;
* 405 for a known path asked with another method, with ``Allow``.

A dialect's ``render(problem, request)`` only dresses a ``Problem`` in its envelope (and words
validation errors its own way). ``Envelope.respond`` renders an error a handler did not raise
(an image task that failed, answered with the engine's header).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException  # FastAPI raises this base class too
from starlette.types import Receive, Scope, Send

from framecast.core.errors import EngineFailed, FramecastError, RetryLater
from framecast.edge.body import is_lean, lean_handler

log = logging.getLogger("framecast.api")

MISSING_TYPES = frozenset({"missing", "missing_argument", "missing_keyword_argument"})
LOCATIONS = frozenset({"body", "query", "path", "header"})
HTTP_CODES: dict[int, str] = {
    400: "InvalidParameter", 401: "AuthenticationError", 403: "AccessDenied",
    404: "ResourceNotFound", 405: "MethodNotAllowed", 413: "RequestEntityTooLarge",
    415: "InvalidParameter", 429: "RateLimitExceeded", 503: "ServiceUnavailable",
}
INTERNAL_MESSAGE = "The service encountered an unexpected internal error."

Source = Literal["error", "validation", "http", "method", "internal"]


@dataclass(frozen=True)
class Problem:
    """An error as an API answers it, in Framecast's terms, before a dialect dresses it.

    ``source`` says where it came from: ``error`` (a ``FramecastError``, kept in ``error``),
    ``validation`` (a request that could not be parsed: ``reason`` is ``json_invalid``,
    ``missing``, ``extra_forbidden`` or ``invalid``, ``detail`` pydantic's words), ``http``
    (an ``HTTPException``), ``method`` (a known path asked with ``method``) or ``internal``
    (anything else, already logged). ``param`` is already in the API's own words.
    """

    source: Source
    status: int
    code: str
    message: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    detail: str = ""
    method: str = ""
    path: str = ""
    error: FramecastError | None = None


Render = Callable[[Problem, Request], Response]


@dataclass(frozen=True)
class Envelope:
    """How one API answers errors. ``params`` maps the core's field names (``images``,
    ``fps``, ``prompt``) to the API's; ``union_tags`` are the discriminator tags pydantic puts
    in a field path that the client never wrote (Ark's content types); ``no_retry`` adds
    ``x-should-retry: false`` to a failed generation; ``answers_405=False`` leaves 405s to
    Starlette's plain answer."""

    name: str
    render: Render
    params: Mapping[str, str] = field(default_factory=dict)
    union_tags: frozenset[str] = frozenset()
    no_retry: bool = False
    answers_405: bool = True

    @cached_property
    def route(self) -> type[EnvelopeRoute]:
        """The route class of this API's router."""
        return type(f"{self.name.title()}Route", (EnvelopeRoute,), {"envelope": self})

    def param(self, name: str | None) -> str | None:
        """The core's field name in this API's words."""
        return self.params.get(name, name) if name else None

    def problem(self, exc: FramecastError) -> Problem:
        """The ``Problem`` of one of our own errors."""
        headers: dict[str, str] = {}
        if isinstance(exc, RetryLater):
            headers["Retry-After"] = exc.retry_after
        if isinstance(exc, EngineFailed) and self.no_retry:
            headers["x-should-retry"] = "false"
        return Problem("error", exc.status, exc.code, exc.message, self.param(exc.param),
                       headers, error=exc)

    def respond(self, exc: FramecastError, request: Request) -> Response:
        """``exc`` in this API's envelope (for an error a handler answers without raising)."""
        return self.render(self.problem(exc), request)

    def validation_problem(self, exc: RequestValidationError) -> Problem:
        """The ``Problem`` of a request that could not be parsed: its first error."""
        errors = exc.errors()
        first = errors[0] if errors else {"type": "", "loc": ("body",), "msg": ""}
        kind = str(first.get("type", ""))
        param = field_path(first.get("loc", ()), self.union_tags)
        if kind == "json_invalid":
            detail = str((first.get("ctx") or {}).get("error", ""))
            return Problem("validation", 400, "InvalidParameter",
                           f"The request body is not valid JSON ({detail}).", "body",
                           reason="json_invalid", detail=detail)
        if kind in MISSING_TYPES:
            return Problem("validation", 400, "MissingParameter",
                           f"The request is missing the required parameter `{param}`.", param,
                           reason="missing", detail=str(first.get("msg", "")))
        detail = str(first.get("msg", "invalid value"))
        reason = "extra_forbidden" if kind == "extra_forbidden" else "invalid"
        return Problem("validation", 400, "InvalidParameter",
                       f"The parameter `{param}` is not valid: {detail}.", param,
                       reason=reason, detail=detail)

    @staticmethod
    def http_problem(exc: HTTPException) -> Problem:
        """The ``Problem`` of a Starlette ``HTTPException`` (an unreadable body, …)."""
        return Problem("http", exc.status_code,
                       HTTP_CODES.get(exc.status_code, "InternalServiceError"), str(exc.detail),
                       "body" if exc.status_code in (400, 413, 415) else None,
                       dict(exc.headers) if exc.headers else {})


def field_path(loc: Sequence[Any], union_tags: frozenset[str] = frozenset()) -> str:
    """A validation error's location as the client wrote the field:
    ``("body", "content", 1, "image_url", "image_url", "url")`` →
    ``content[1].image_url.url`` (the location kind dropped, and a discriminator tag in
    ``union_tags`` right after a list index dropped). A path that starts with a position
    (a JSON syntax error's offset) names the ``body``."""
    parts = list(loc)
    if parts and parts[0] in LOCATIONS:
        parts = parts[1:]
    out = ""
    previous: Any = None
    for i, part in enumerate(parts):
        is_tag = (isinstance(previous, int) and isinstance(part, str)
                  and part in union_tags and i + 1 < len(parts))
        if not is_tag:
            if isinstance(part, int):
                out += f"[{part}]" if out else "body"
            else:
                out += f".{part}" if out else str(part)
        previous = part
    return out or "body"


class EnvelopeRoute(APIRoute):
    """An ``APIRoute`` whose handler answers every error in its API's envelope (the
    subclass an ``Envelope`` makes sets ``envelope``)."""

    envelope: ClassVar[Envelope]
    # every route's methods per path, per subclass (for the ``Allow`` header of a 405)
    _methods_by_path: ClassVar[dict[str, set[str]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._methods_by_path = {}

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self._methods_by_path.setdefault(self.path, set()).update(self.methods or ())

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A known path with another method: 405 in this API's envelope."""
        envelope = self.envelope
        if scope["type"] == "http" and self.methods and scope["method"] not in self.methods \
                and envelope.answers_405:
            allowed = ", ".join(sorted(self._methods_by_path.get(self.path, set(self.methods))))
            method, path = scope["method"], scope["path"]
            problem = Problem("method", 405, "MethodNotAllowed",
                              f"The method {method} is not allowed on this path.",
                              headers={"Allow": allowed}, method=method, path=path)
            response = envelope.render(problem, Request(scope, receive))
            await response(scope, receive, send)
            return
        await super().handle(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        """Wrap FastAPI's handler (or, for a ``lean`` route, ``lean_handler``) so that its
        errors become this API's error responses."""
        handler = lean_handler(self.endpoint) if is_lean(self.endpoint) \
            else super().get_route_handler()
        envelope = self.envelope

        async def enveloped(request: Request) -> Response:
            try:
                return await handler(request)
            except FramecastError as exc:
                problem = envelope.problem(exc)
            except RequestValidationError as exc:
                problem = envelope.validation_problem(exc)
            except HTTPException as exc:
                problem = envelope.http_problem(exc)
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                problem = Problem("internal", 500, "InternalServiceError", INTERNAL_MESSAGE)
            return envelope.render(problem, request)

        return enveloped
