"""Framecast's native faces: its own task API under ``/framecast/v1`` (tasks of every
dialect, live events, models, usage) and the operations endpoints ``/readyz`` and
``/metrics``.

``wire.py`` holds the request and response models, ``translate.py`` native ⇄ core,
``events.py`` the resumable Server-Sent Events, ``router.py`` the thin handlers,
``errors.py`` the one mapping of errors to ``{"error": {code, message, param}}``,
``models.py`` and ``usage.py`` what those endpoints compute, ``ops.py`` and ``metrics.py``
readiness and Prometheus. See ``docs/native-api.md``.
"""

from __future__ import annotations

from fastapi import FastAPI


def include_native(app: FastAPI) -> None:
    """Add the native API and the operations endpoints to ``app``."""
    from framecast.native.ops import router as ops_router
    from framecast.native.router import router as native_router

    app.include_router(native_router)
    app.include_router(ops_router)
