"""The ASGI application: wiring of store, storage, registry, service, worker and dialects.

``create_app(settings)`` builds everything in the lifespan; handlers reach the service through
``get_service(request)``. ``framecast serve`` runs this app with the worker supervisor in the
same process (embedded); ``framecast worker`` runs a supervisor alone.
"""

from __future__ import annotations

import gc
import importlib
import logging
import mimetypes
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framecast import __version__
from framecast.auth import Authenticator
from framecast.core.errors import PayloadTooLarge
from framecast.core.service import ServiceLimits, TaskService
from framecast.media.fetch import FetchPolicy
from framecast.media.images import ImageLimits
from framecast.registry import Registry
from framecast.routing import LeanRoutes
from framecast.settings import Settings
from framecast.storage import LocalStore
from framecast.store.db import open_database
from framecast.store.keys import KeyStore
from framecast.store.queue import TaskQueue

log = logging.getLogger("framecast")


@dataclass
class Runtime:
    """Everything one process holds, built once from settings."""

    settings: Settings
    queue: TaskQueue
    storage: LocalStore
    registry: Registry
    keys: KeyStore
    service: TaskService
    supervisor: Any = None        # this process's worker supervisor, if it runs one
    reported_worker: Any = None   # serve's worker process, seen from an API process

    def worker_view(self) -> Any:
        """This server's worker as ``/readyz`` and ``/metrics`` see it (``slot_info()``,
        ``stopping``, ``pid``): the supervisor of this process, or the snapshot of serve's
        worker process (``worker/status.py``); None when the server runs no worker."""
        if self.supervisor is not None:
            return self.supervisor
        return self.reported_worker.read() if self.reported_worker is not None else None

    def close(self) -> None:
        """Stop the worker and release the database."""
        if self.supervisor is not None:
            self.supervisor.stop()
        self.queue.close()


def build_runtime(settings: Settings) -> Runtime:
    """Open the database (migrations applied), storage, registry and the service."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_database(settings.resolved_database_url)
    queue = TaskQueue(engine, lease_s=settings.lease_s)
    storage = LocalStore(settings.storage_dir, secret=settings.secret("files"),
                         base_url=settings.resolved_public_url)
    registry = Registry.load(settings.config)
    limits = ServiceLimits(
        fetch=FetchPolicy(allow_private=settings.allow_private_urls,
                          max_bytes=settings.fetch_max_bytes, deadline_s=settings.fetch_deadline_s),
        images=ImageLimits(max_bytes=settings.fetch_max_bytes, min_side=settings.image_min_side,
                           max_side=settings.image_max_side, min_aspect=settings.image_min_aspect,
                           max_aspect=settings.image_max_aspect,
                           max_pixels=settings.image_max_pixels),
        max_queued_per_key=settings.max_queued_per_key, image_wait_s=settings.image_wait_s)
    service = TaskService(queue, storage, registry, limits, file_url_ttl_s=settings.file_url_ttl_s)
    return Runtime(settings=settings, queue=queue, storage=storage, registry=registry,
                   keys=KeyStore(engine), service=service)


# serve's worker yields the CPU to its API: its slot threads and engine children run at this
# nice value (Linux), so requests stay quick while tasks run; idle cores still go to them.
WORKER_NICE = 5


def start_supervisor(runtime: Runtime, *, start: bool = True, serving: bool = True) -> Any:
    """Build the worker supervisor serving every engine of the registry and start it (with
    ``start=False`` the caller starts it, e.g. through ``Supervisor.run_forever``).
    ``serving``: the worker shares its machine with this server's API (``serve``), so it
    runs at ``WORKER_NICE`` unless ``worker_nice`` says otherwise."""
    from framecast.worker.supervisor import Supervisor

    s = runtime.settings
    registry = runtime.registry

    def resolve_engine(task: Any) -> tuple[str, dict]:
        entry = registry.resolve(task.model)
        return entry.engine, entry.engine_options()

    supervisor = Supervisor(
        runtime.queue, runtime.storage, engines=registry.engines(), resolve_engine=resolve_engine,
        slots=s.slots, work_root=s.work_dir, worker_id=s.worker_id, heartbeat_s=s.heartbeat_s,
        lease_s=s.lease_s, poll_s=s.poll_s, kill_grace_s=s.kill_grace_s,
        nice=s.worker_nice if s.worker_nice is not None else (WORKER_NICE if serving else 0))
    if start:
        supervisor.start()
    runtime.supervisor = supervisor
    return supervisor


def get_service(request: Request) -> TaskService:
    """The task service of this app (typed accessor for handlers)."""
    return request.app.state.runtime.service


def get_runtime(request: Request) -> Runtime:
    """The runtime of this app."""
    return request.app.state.runtime


class BodyTooLarge(PayloadTooLarge, HTTPException):
    """The request body is over the cap. A ``FramecastError`` (so each dialect's route class
    renders it in its own envelope) and an ``HTTPException`` (so FastAPI's body reader lets
    it through instead of turning it into a 400)."""

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


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               run_worker: bool | None = None) -> FastAPI:
    """The Framecast ASGI app. Builds a runtime from ``settings`` unless one is given."""
    settings = settings or (runtime.settings if runtime else Settings())
    with_worker = settings.run_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or build_runtime(settings)
        # Everything built so far lives as long as the process. Frozen, the collector stops
        # re-walking it in each full collection: those walks stalled every in-flight request
        # for 100-150 ms under load (closed-loop GET p99 200 ms -> 90 ms).
        gc.collect()
        gc.freeze()
        app.state.runtime = rt
        app.state.authenticator = Authenticator(rt.keys, settings.api_key)
        if with_worker and rt.supervisor is None:
            start_supervisor(rt)
        elif settings.worker_status_file is not None:
            from framecast.worker.status import ReportedWorker

            rt.reported_worker = ReportedWorker(settings.worker_status_file)
        # webhooks: the outbox, and this process's delivery loop (framecast.webhooks)
        from framecast.webhooks import start_webhooks

        app.state.webhooks = start_webhooks(rt)
        try:
            yield
        finally:
            app.state.webhooks.stop()   # webhooks: before the database is released
            if runtime is None:
                rt.close()

    app = FastAPI(title="Framecast", version=__version__, lifespan=lifespan,
                  description="Self-hosted Seedance / Seedream compatible generation server.")
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    app.add_middleware(ClientRequestIdMiddleware)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}   # async: no worker-thread hop for the cheapest request

    @app.get("/files/{key:path}", include_in_schema=False)
    def serve_file(key: str, request: Request, expires: int = 0, sig: str = "") -> Any:
        rt: Runtime = request.app.state.runtime
        try:
            valid = rt.storage.verify(key, expires, sig)
            path = rt.storage.path(key)
        except ValueError:
            valid = False
        if not valid:
            return JSONResponse(status_code=403, content={"error": {
                "code": "AccessDenied", "type": "Forbidden", "param": "sig",
                "message": "The file URL is invalid or has expired."}})
        if not path.is_file():
            return JSONResponse(status_code=404, content={"error": {
                "code": "ResourceNotFound", "type": "NotFound", "param": "key",
                "message": "The file does not exist (the task may have been deleted)."}})
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type)

    app.state.lean_routes = include_dialects(app)
    from framecast.webhooks_router import router as webhooks_router  # webhooks: native API

    app.include_router(webhooks_router)

    from framecast.native import include_native  # native API: /framecast/v1, /readyz, /metrics

    include_native(app)

    from framecast.mcp.http import mount_mcp  # MCP: streamable HTTP at /mcp (+ its lifespan)

    mount_mcp(app)

    from framecast.web.router import router as web_router  # playground: GET / and /static/*

    app.include_router(web_router)
    return app


API_PARENT_CHECK_S = 0.5   # how often an API process of `serve --api-processes` checks its parent


def api_process_app() -> ASGIApp:
    """The app of one API process of ``framecast serve --api-processes N`` (a uvicorn
    factory): settings from the ``FRAMECAST_*`` environment the parent exported, no worker
    (the parent runs it), and an exit when the parent is gone (kill -9 of ``serve``), so no
    orphan keeps the port."""
    import os
    import signal
    import threading

    settings = Settings()
    settings.run_worker = False
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(API_PARENT_CHECK_S)
        os.kill(os.getpid(), signal.SIGTERM)   # uvicorn drains and exits

    threading.Thread(target=watch, daemon=True, name="framecast-parent-watch").start()
    return serving_app(create_app(settings), settings)


# Each dialect package exposes `router` in `framecast.dialects.<name>.router`; a package
# may also expose `mount(app)` there for what a router cannot carry (sub-apps, websockets).
DIALECTS = ("ark", "openai", "aiml", "acedata", "wiro")


def include_dialects(app: FastAPI) -> list[Any]:
    """Mount every dialect package that is installed (no dialect imports another); returns
    their routes (for ``serving_app``)."""
    routes: list[Any] = []
    for name in DIALECTS:
        module_name = f"framecast.dialects.{name}.router"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue
            raise
        app.include_router(module.router)
        routes.extend(module.router.routes)
        if hasattr(module, "mount"):
            module.mount(app)
    return routes


def serving_app(app: FastAPI, settings: Settings) -> ASGIApp:
    """What uvicorn serves: ``app`` behind the front door of its ``lean`` routes
    (``routing.LeanRoutes``), which keep the body cap and the request-id echo."""
    def wrap(inner: ASGIApp) -> ASGIApp:
        return ClientRequestIdMiddleware(BodyLimitMiddleware(inner,
                                                             max_bytes=settings.max_body_bytes))

    return LeanRoutes(app, app.state.lean_routes, wrap)


__all__ = ["BodyLimitMiddleware", "BodyTooLarge", "ClientRequestIdMiddleware", "Runtime",
           "api_process_app", "build_runtime", "create_app", "get_runtime", "get_service",
           "serving_app"]
