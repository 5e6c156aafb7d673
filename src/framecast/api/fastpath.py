"""The front door: requests for a ``lean`` route (``edge.body.lean``: the Ark create and get,
which clients send over and over) go straight to their route's handler, past the app's
middleware stack and router; everything else goes to the app.

The handler is the route's own (``EnvelopeRoute.get_route_handler``), so its errors are
answered in its API's envelope; ``middleware.wrap`` puts back the same middleware list the
app has. Measured in docs/benchmarks.md ("The front door").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from framecast.edge.body import is_lean
from framecast.edge.envelope import EnvelopeRoute

_LEAN_HANDLER = "framecast.lean_handler"     # scope key: the handler LeanRoutes picked


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
                        if is_lean(route.endpoint)]
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
