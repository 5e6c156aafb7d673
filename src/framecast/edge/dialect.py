"""The contract between an API package and the composition root (``framecast.api``).

Each API package (``dialects/ark`` … ``dialects/wiro``, ``native``) exports one ``Dialect``:
its name as tasks record it, its router, its error envelope and the renderer of its webhook
bodies. ``api`` imports the packages explicitly, mounts their routers and hands the
renderers to webhook delivery; nothing finds a dialect by its name as a string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI

from framecast.core.task import Task
from framecast.edge.envelope import Envelope
from framecast.service.tasks import TaskService

WebhookBody = Callable[[Task, TaskService], dict[str, Any]]


@dataclass(frozen=True)
class Dialect:
    """One API surface. ``webhook_body(task, service)`` renders a task of this dialect as its
    ``callback_url`` receives it (``service.file_url`` signs its links); ``mount`` adds what
    a router cannot carry (Wiro's WebSocket)."""

    name: str
    router: APIRouter
    envelope: Envelope
    webhook_body: WebhookBody | None = None
    mount: Callable[[FastAPI], None] | None = None
