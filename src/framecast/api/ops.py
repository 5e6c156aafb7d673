"""Operations endpoints: ``/healthz``, ``/readyz`` and ``/metrics`` (no API key; firewall them
if needed).

``/healthz`` answers 200 while the process serves HTTP (the floor of the HTTP stack).

``/readyz`` answers 200 when this process can serve: the database answers ``SELECT 1``, the
blob store is writable (``storage.healthy()``), and, when this process runs a worker, at least
one engine slot is alive (not defunct) and the supervisor is not stopping. ``serve`` runs its
worker in its own process, so its API processes read the slots from the worker's snapshot
(``worker/status.py``). A server started with ``--no-worker`` says so and is ready on the
first two checks alone. Otherwise 503, with every check's details in the body either way.

``/metrics`` is the Prometheus text format (``metrics.py``), computed at scrape time.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from framecast.api.metrics import FramecastCollector, slot_states
from framecast.api.runtime import Runtime
from framecast.db.stats import StatsReader
from framecast.worker.status import STALE_S


def add_routes(app: FastAPI) -> None:
    """``/healthz``, ``/readyz`` and ``/metrics`` on ``app`` itself. Not an included router:
    FastAPI matches an included router's routes through one more layer, about 6 µs a request
    (``/healthz`` in-process: 36.5 µs on the app, 42 µs in a router; min of 5×10,000), and
    ``/healthz`` is the floor every benchmark figure is read against."""
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["operations"],
                      summary="Readiness: database, storage and engine slots",
                      responses={503: {"description": "Not ready; the body says which check "
                                                      "failed."}})
    app.add_api_route("/metrics", metrics, methods=["GET"], tags=["operations"],
                      summary="Prometheus metrics", response_class=Response,
                      responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}},
                                       "description": "Prometheus text exposition format."}})


async def healthz() -> dict[str, str]:
    """200 while the process serves (async: no worker-thread hop for the cheapest request)."""
    return {"status": "ok"}


def _check_database(runtime: Runtime) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        StatsReader(runtime.queue.engine).ping()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_storage(runtime: Runtime) -> dict[str, Any]:
    try:
        ok = bool(runtime.storage.healthy())
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {"ok": True} if ok else {"ok": False, "error": "the blob store is not writable"}


def _check_worker(runtime: Runtime) -> dict[str, Any]:
    supervisor = runtime.worker_view()
    if supervisor is None:
        return {"ok": True, "embedded": False,
                "detail": "this server runs no worker (serve --no-worker); tasks are run "
                          "by `framecast worker` processes"}
    states = slot_states(supervisor)
    slots = [{"index": s.index, "state": s.state.value if s.state else "starting",
              "pid": s.pid, "task_id": s.task_id} for s in supervisor.slot_info()]
    alive = sum(states[k] for k in ("busy", "idle", "loading"))
    check: dict[str, Any] = {"ok": alive > 0 and not supervisor.stopping, "embedded": True,
                             "worker_pid": supervisor.pid, "slots": slots, **states}
    if supervisor.pid is None:
        check["error"] = (f"the worker process has not reported for {STALE_S:.0f} s "
                          "(stopped or hung)")
    elif supervisor.stopping:
        check["error"] = "the worker is shutting down"
    elif alive == 0:
        check["error"] = "every engine slot is defunct"
    return check


def readiness(runtime: Runtime) -> dict[str, Any]:
    """Every readiness check of ``runtime`` (blocking; run it in a worker thread)."""
    checks = {"database": _check_database(runtime), "storage": _check_storage(runtime),
              "worker": _check_worker(runtime)}
    ready = all(c["ok"] for c in checks.values())
    return {"status": "ready" if ready else "unready", "checks": checks}


async def readyz(request: Request) -> JSONResponse:
    """200 when the database answers, storage is writable and (if this process runs a
    worker) an engine slot is alive; 503 otherwise. No API key."""
    report = await anyio.to_thread.run_sync(readiness, request.app.state.runtime)
    return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)


def metrics_registry(runtime: Runtime) -> CollectorRegistry:
    """A registry of this app's collectors (process and platform facts, and Framecast's)."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(FramecastCollector(runtime))
    return registry


async def metrics(request: Request) -> Response:
    """Queue depth, task counts, durations, failures, engine slots and the webhook backlog,
    read from the database at scrape time. No API key."""
    state = request.app.state
    registry = getattr(state, "native_metrics", None)
    if registry is None or getattr(state, "native_metrics_runtime", None) is not state.runtime:
        registry = metrics_registry(state.runtime)
        state.native_metrics, state.native_metrics_runtime = registry, state.runtime
    body = await anyio.to_thread.run_sync(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
