"""The one place where a handler's errors become an API's own error envelope.

Every API package (each dialect, the native API) declares a route class deriving from
``EnvelopeRoute`` and implements its renderers; the dispatch — which exception goes to which
renderer, 405 answers for a known path with another method, logging of the unexpected — lives
here once. A dialect importing this module imports no other dialect.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException  # FastAPI raises this base class too
from starlette.types import Receive, Scope, Send

from framecast.core.errors import FramecastError

log = logging.getLogger("framecast.api")


class EnvelopeRoute(APIRoute):
    """An ``APIRoute`` whose handler answers every error in its API's envelope.

    Subclasses implement ``framecast_error``, ``validation_error``, ``http_error`` and
    ``internal_error``, and may implement ``method_not_allowed`` (``None`` keeps Starlette's
    plain 405)."""

    # every route's methods per path, per subclass (for the ``Allow`` header of a 405)
    _methods_by_path: ClassVar[dict[str, set[str]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._methods_by_path = {}

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self._methods_by_path.setdefault(self.path, set()).update(self.methods or ())

    # -- renderers (per API) ------------------------------------------------------------

    def framecast_error(self, exc: FramecastError, request: Request) -> Response:
        """One of our own errors."""
        raise NotImplementedError

    def validation_error(self, exc: RequestValidationError, request: Request) -> Response:
        """A request FastAPI could not validate (types, missing fields, bad JSON)."""
        raise NotImplementedError

    def http_error(self, exc: HTTPException, request: Request) -> Response:
        """A Starlette ``HTTPException`` (an unreadable body, …)."""
        raise NotImplementedError

    def internal_error(self, request: Request) -> Response:
        """Anything unexpected (already logged)."""
        raise NotImplementedError

    def method_not_allowed(self, method: str, path: str, allow: str) -> Response | None:
        """A known path asked with another method; ``allow`` is the ``Allow`` header value."""
        return None

    # -- dispatch -----------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A known path with another method: 405 in this API's envelope."""
        if scope["type"] == "http" and self.methods and scope["method"] not in self.methods:
            allowed = self._methods_by_path.get(self.path, set(self.methods))
            response = self.method_not_allowed(scope["method"], scope["path"],
                                               ", ".join(sorted(allowed)))
            if response is not None:
                await response(scope, receive, send)
                return
        await super().handle(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        """Wrap FastAPI's handler so that its errors become this API's error responses."""
        handler = super().get_route_handler()

        async def enveloped(request: Request) -> Response:
            try:
                return await handler(request)
            except FramecastError as exc:
                return self.framecast_error(exc, request)
            except RequestValidationError as exc:
                return self.validation_error(exc, request)
            except HTTPException as exc:
                return self.http_error(exc, request)
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                return self.internal_error(request)

        return enveloped
