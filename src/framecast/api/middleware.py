"""The HTTP middleware of every API process, listed once (``MIDDLEWARE``): the request-body
cap and the echo of the client's request id. ``app.py`` installs the list on the app and
``fastpath.py`` wraps the lean routes in the same list.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framecast.core.errors import PayloadTooLarge


class BodyTooLarge(PayloadTooLarge, HTTPException):
    """The request body is over the cap. A ``FramecastError`` (so each API's envelope renders
    it in its own words) and an ``HTTPException`` (so FastAPI's body reader lets it through
    instead of turning it into a 400)."""

    def __init__(self, max_bytes: int) -> None:
        message = f"The request body is larger than {max_bytes} bytes."
        PayloadTooLarge.__init__(self, message, param="body")
        self.status_code = 413
        self.detail = message
        self.headers = None


class BodyLimitMiddleware:
    """Cap request bodies at ``max_bytes`` (Starlette has none). The cap is enforced where the
    body is read: the dialect's handler answers 413 in its own envelope; anything outside a
    dialect answers a plain 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        # a declared length over the cap fails on the first read, before any byte is buffered
        seen = int(declared) if declared is not None and declared.isdigit() else 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            if seen > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            message = await receive()
            if message["type"] == "http.request" and not declared:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked_send)
        except BodyTooLarge as exc:
            if started:
                raise
            response = JSONResponse(status_code=413, content={"error": {
                "code": exc.code, "type": "BadRequest", "param": "body", "message": exc.message}})
            await response(scope, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


class ClientRequestIdMiddleware:
    """Echo the client's ``X-Client-Request-Id`` on the response (the Ark SDKs read request
    ids from it). Pure ASGI: ``@app.middleware("http")`` costs a task hop per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client_id = None
        if scope["type"] == "http":
            client_id = dict(scope.get("headers") or []).get(b"x-client-request-id")
        if not client_id:
            await self.app(scope, receive, send)
            return

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", [])
                           if h[0].lower() != b"x-client-request-id"]
                headers.append((b"x-client-request-id", client_id[:128]))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_id)


def middleware(max_body_bytes: int) -> list[tuple[Callable[..., ASGIApp], dict[str, int]]]:
    """The middleware every API request passes, innermost first: (class, options)."""
    return [(BodyLimitMiddleware, {"max_bytes": max_body_bytes}),
            (ClientRequestIdMiddleware, {})]


def wrap(app: ASGIApp, max_body_bytes: int) -> ASGIApp:
    """``app`` inside the middleware of ``middleware()``."""
    for cls, options in middleware(max_body_bytes):
        app = cls(app, **options)
    return app
