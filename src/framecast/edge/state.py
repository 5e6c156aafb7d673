"""What the composition root puts on ``app.state`` for the API packages, and their typed
accessors (a handler never reaches past them into the runtime)."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from framecast.service.tasks import TaskService


def task_service(connection: HTTPConnection) -> TaskService:
    """The task service of this app (a request's or a WebSocket's)."""
    return connection.app.state.service
