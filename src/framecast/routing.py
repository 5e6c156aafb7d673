"""The one place where a handler's errors become an API's own error envelope.

Every API package (each dialect, the native API) declares a route class deriving from
``EnvelopeRoute`` and implements its renderers; the dispatch — which exception goes to which
renderer, 405 answers for a known path with another method, logging of the unexpected — lives
here once. A dialect importing this module imports no other dialect.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException  # FastAPI raises this base class too
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from framecast.core.errors import FramecastError

log = logging.getLogger("framecast.api")

M = TypeVar("M", bound=BaseModel)
_LEAN = "__framecast_lean__"                 # the mark ``lean`` sets on an endpoint
_LEAN_HANDLER = "framecast.lean_handler"     # scope key: the handler LeanRoutes picked


def lean(endpoint: Callable[[Request], Awaitable[Response]]) \
        -> Callable[[Request], Awaitable[Response]]:
    """Mark ``async def endpoint(request) -> Response`` to be called as it is, with no
    parameters solved by FastAPI (routing and the error envelope stay). For the routes
    clients poll hardest: FastAPI's parameter solving cost more than their work
    (docs/benchmarks.md). The endpoint reads its own path parameters, owner and body
    (``json_body``); ``openapi_extra`` documents them."""
    setattr(endpoint, _LEAN, True)
    return endpoint


def _is_lean(endpoint: Callable[..., Any]) -> bool:
    return getattr(endpoint, _LEAN, False)


async def json_body(request: Request, model: type[M]) -> M:
    """The request body as ``model``, refused exactly as a FastAPI body parameter refuses it:
    ``RequestValidationError`` with ``body`` first in every error location."""
    raw = await request.body()
    data: Any = raw
    if raw:
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        maintype, _, subtype = media_type.partition("/")
        if maintype == "application" and (subtype == "json" or subtype.endswith("+json")):
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise RequestValidationError([{
                    "type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                    "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
            except ValueError as exc:   # not text in any JSON encoding
                raise HTTPException(status_code=400,
                                    detail="There was an error parsing the body") from exc
    else:
        raise RequestValidationError([{"type": "missing", "loc": ("body",),
                                       "msg": "Field required", "input": None}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()],
            body=data) from None


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON body of a ``lean`` route (its
    nested models written out in place, as the schema has no components of its own)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            if isinstance(node.get("discriminator"), dict):
                # its mapping names $defs too; the mapping is optional in OpenAPI
                node = {**node, "discriminator": {
                    "propertyName": node["discriminator"]["propertyName"]}}
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": inline(schema)}}}}


def openapi_path_params(*names: str) -> dict[str, Any]:
    """``openapi_extra`` documenting string path parameters of a ``lean`` route."""
    return {"parameters": [{"name": name, "in": "path", "required": True,
                            "schema": {"type": "string"}} for name in names]}


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
        """Wrap FastAPI's handler (or a ``lean`` endpoint itself) so that its errors become
        this API's error responses."""
        handler = self.endpoint if _is_lean(self.endpoint) \
            else super().get_route_handler()

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


class LeanRoutes:
    """The ASGI front door: requests for a ``lean`` route go straight to its handler (with
    its API's error envelope), past the app's middleware stack and router; everything else
    goes to the app. ``wrap`` puts back the middleware the lean routes need (the body cap,
    the request id). A dozen layers of FastAPI and Starlette cost about as much CPU as the
    create or get itself (docs/benchmarks.md)."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute],
                 wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        self.app = app
        self._routes = [(route.path_regex, frozenset(route.methods or ()),
                         route.param_convertors, route.get_route_handler())
                        for route in routes if isinstance(route, EnvelopeRoute)
                        if _is_lean(route.endpoint)]
        self._lean = wrap(self._serve)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one connection."""
        if scope["type"] == "http" and not scope.get("root_path"):
            path, method = scope["path"], scope["method"]
            for regex, methods, convertors, handler in self._routes:
                if method in methods and (match := regex.match(path)) is not None:
                    scope["app"] = self.app     # request.app: the app's state and runtime
                    scope["path_params"] = {key: convertors[key].convert(value)
                                            for key, value in match.groupdict().items()}
                    scope[_LEAN_HANDLER] = handler
                    await self._lean(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
        response = await scope[_LEAN_HANDLER](Request(scope, receive, send))
        await response(scope, receive, send)
