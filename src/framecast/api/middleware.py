"""The HTTP middleware of every API process, listed once (``middleware()``): the echo of the
client's request id, the request-body cap, and the admission of large bodies. ``app.py``
installs the list on the app and ``fastpath.py`` wraps the lean routes in the same list.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framecast.api.settings import Settings
from framecast.core.errors import InvalidInput, PayloadTooLarge


class BodyError(InvalidInput, HTTPException):
    """The request body could not be taken, raised from ``receive``: a ``FramecastError``
    naming the ``body`` (so each API's envelope renders it in its own words, with its
    ``status``) and an ``HTTPException`` (so FastAPI's body reader lets it through instead of
    turning it into a 400)."""

    def __init__(self, message: str) -> None:
        InvalidInput.__init__(self, message, param="body")
        self.status_code = self.status
        self.detail = message
        self.headers = None


class BodyTooLarge(PayloadTooLarge, BodyError):
    """The request body is over the cap: 413."""

    def __init__(self, max_bytes: int) -> None:
        BodyError.__init__(self, f"The request body is larger than {max_bytes} bytes.")


class BodyTooSlow(BodyError):
    """A large body did not arrive within its deadline: 408."""

    status = 408
    code = "RequestTimeout"

    def __init__(self, deadline_s: float) -> None:
        BodyError.__init__(self, f"The request body did not arrive within {deadline_s:g} s.")


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


class LargeBodyAdmission:
    """At most ``max_concurrent`` requests with a body over ``threshold_bytes`` are handled at
    once per process; the others wait, unread, before their first byte is taken from the
    socket (TCP holds the rest of their upload), which costs nothing meanwhile.

    A create carrying a 12 MP photograph costs about 10 ms of this machine's CPU (receiving
    the body, parsing it, writing the bytes), against 0.5 ms for a text-only one. Ten
    clients creating with photos back to back, unadmitted, took 4.5 times the p99 of forty
    other clients' GETs; admitted two at a time, 1.9 times (docs/benchmarks.md, "Creates
    with photographs"). Each photo client then waits its turn instead of every client
    waiting for all of them.

    An admitted body must arrive within ``deadline_s``, or the request is answered 408 and
    its turn goes to the next: a client uploading very slowly (or not at all) holds a turn
    for that long at most."""

    def __init__(self, app: ASGIApp, max_concurrent: int, threshold_bytes: int,
                 deadline_s: float = 60.0) -> None:
        self.app = app
        self.max_concurrent = max_concurrent
        self.threshold_bytes = threshold_bytes
        self.deadline_s = deadline_s
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_concurrent <= 0 or \
                not self._large(scope.get("headers") or []):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.max_concurrent)
        async with slots:
            deadline = loop.time() + self.deadline_s
            complete = False

            async def in_time() -> Message:
                nonlocal complete
                if complete:                   # after the body: a disconnect, unbounded
                    return await receive()
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    raise BodyTooSlow(self.deadline_s) from None
                complete = message["type"] != "http.request" or not message.get("more_body")
                return message

            await self.app(scope, in_time, send)

    def _large(self, headers: list[tuple[bytes, bytes]]) -> bool:
        for name, value in headers:
            if name == b"content-length":
                return value.isdigit() and int(value) > self.threshold_bytes
            if name == b"transfer-encoding":
                return True          # no declared length: it may be large
        return False


def middleware(settings: Settings) -> list[tuple[Callable[..., ASGIApp], dict[str, float]]]:
    """The middleware every API request passes, innermost first: (class, options)."""
    return [(LargeBodyAdmission, {"max_concurrent": settings.max_large_bodies,
                                  "threshold_bytes": settings.large_body_bytes,
                                  "deadline_s": settings.large_body_deadline_s}),
            (BodyLimitMiddleware, {"max_bytes": settings.max_body_bytes}),
            (ClientRequestIdMiddleware, {})]


def wrap(app: ASGIApp, settings: Settings) -> ASGIApp:
    """``app`` inside the middleware of ``middleware()``."""
    for cls, options in middleware(settings):
        app = cls(app, **options)
    return app
