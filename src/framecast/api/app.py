"""The ASGI application: one runtime, every API package mounted, the middleware list once.

``create_app(settings)`` builds the runtime in the lifespan and puts on ``app.state`` what the
API packages read through their accessors (``edge.state``): the task service, the
authenticator, Wiro's settings. ``serving_app`` puts the front door (``fastpath.py``) before
it; that is what uvicorn serves. ``framecast serve`` runs it with the worker in another
process (or the same one, ``--single-process``); ``framecast worker`` needs no app at all.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from framecast import __version__
from framecast.api import files, ops
from framecast.api.dialects import DIALECTS
from framecast.api.fastpath import LeanRoutes
from framecast.api.memory import keep_freed_memory
from framecast.api.middleware import middleware, wrap
from framecast.api.runtime import (
    Runtime,
    build_runtime,
    start_retention,
    start_supervisor,
    start_webhooks,
)
from framecast.api.settings import Settings
from framecast.dialects.wiro import WiroSettings
from framecast.edge.auth import Authenticator
from framecast.edge.ratelimit import RateLimiter
from framecast.mcp.http import mount_mcp
from framecast.web.router import router as web_router

SERVE_PID_ENV = "FRAMECAST_SERVE_PID"   # set by serve for its API processes
API_PARENT_CHECK_S = 0.5   # how often an API process of `serve --api-processes` checks its parent
API_PROCESS_APP = "framecast.api.app:api_process_app"   # uvicorn's factory for API processes


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               run_worker: bool | None = None) -> FastAPI:
    """The Framecast ASGI app. Builds a runtime from ``settings`` unless one is given."""
    settings = settings or (runtime.settings if runtime else Settings())
    with_worker = settings.run_worker if run_worker is None else run_worker
    keep_freed_memory()    # photo-sized request bodies: no page faults on every request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or build_runtime(settings)
        # Everything built so far lives as long as the process. Frozen, the collector stops
        # re-walking it in each full collection: those walks stalled every in-flight request
        # for 100-150 ms under load (closed-loop GET p99 200 ms -> 90 ms).
        gc.collect()
        gc.freeze()
        app.state.runtime = rt
        app.state.service = rt.service
        app.state.authenticator = Authenticator(rt.keys, settings.api_key)
        app.state.rate_limiter = RateLimiter(rt.keys.rate_limit, settings.rate_limit,
                                             storage=settings.rate_limit_storage)
        app.state.wiro = WiroSettings(
            keys=rt.keys, static_api_secret=settings.wiro_api_secret,
            price_video_per_s=settings.wiro_price_video_per_s,
            price_per_image=settings.wiro_price_per_image)
        if with_worker and rt.supervisor is None:
            start_supervisor(rt)
        elif settings.worker_status_file is not None:
            from framecast.worker.status import ReportedWorker

            rt.reported_worker = ReportedWorker(settings.worker_status_file)
        app.state.webhooks = start_webhooks(rt)
        if rt.purger is None:
            start_retention(rt)
        try:
            yield
        finally:
            app.state.webhooks.stop()   # before the database is released
            if runtime is None:
                rt.close()

    app = FastAPI(title="Framecast", version=__version__, lifespan=lifespan,
                  description="Self-hosted Seedance / Seedream compatible generation server.")
    for cls, options in middleware(settings):
        app.add_middleware(cls, **options)
    ops.add_routes(app)                 # /healthz, /readyz, /metrics
    files.add_routes(app)               # /files/{key}: signed URLs of the local blob store
    lean: list[BaseRoute] = []
    for dialect in DIALECTS:
        app.include_router(dialect.router)
        lean.extend(dialect.router.routes)
        if dialect.mount is not None:
            dialect.mount(app)
    mount_mcp(app)                      # MCP: streamable HTTP at /mcp (+ its lifespan)
    app.include_router(web_router)      # the playground: GET / and /static/*
    app.state.lean_routes = lean
    return app


def serving_app(app: FastAPI, settings: Settings) -> ASGIApp:
    """What uvicorn serves: ``app`` behind the front door of its ``lean`` routes, which keep
    the app's middleware list."""
    return LeanRoutes(app, app.state.lean_routes,
                      lambda inner: wrap(inner, settings))


def api_process_app() -> ASGIApp:
    """The app of one API process of ``framecast serve --api-processes N`` (a uvicorn
    factory): settings from the ``FRAMECAST_*`` environment the parent exported, no worker
    (the parent runs it), and an exit when the parent is gone (kill -9 of ``serve``), so no
    orphan keeps the port."""
    settings = Settings()
    settings.run_worker = False
    # serve's pid, exported before it spawned us: a parent killed while this process was
    # still starting (before this line) is noticed too, where getppid() would already name
    # the process that adopted us
    parent = int(os.environ.get(SERVE_PID_ENV) or os.getppid())

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(API_PARENT_CHECK_S)
        os.kill(os.getpid(), signal.SIGTERM)   # uvicorn drains and exits

    threading.Thread(target=watch, daemon=True, name="framecast-parent-watch").start()
    return serving_app(create_app(settings), settings)


__all__ = ["API_PROCESS_APP", "api_process_app", "create_app", "serving_app"]
