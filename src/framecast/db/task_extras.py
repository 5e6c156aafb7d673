"""What a dialect keeps about its own tasks beside the task row: an access token a client
may use instead of the task id (Wiro's ``socketaccesstoken``), and free-form data (the
request as the client wrote it, a price fixed at creation, ...).

The core never reads this table; a dialect writes a row right after ``TaskService`` created
the task and reads it back when it renders the task (webhook bodies included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Row
from sqlalchemy.exc import IntegrityError

from framecast.core.errors import InvalidInput
from framecast.db import queries as q
from framecast.db.database import autocommit, write_lock
from framecast.db.queue import has_nul


@dataclass
class TaskExtras:
    """A dialect's row for one task."""

    task_id: str
    dialect: str
    access_token: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0

    @classmethod
    def from_row(cls, row: Row[Any]) -> TaskExtras:
        """Build from a ``task_extras`` row."""
        m = row._mapping
        return cls(task_id=m["task_id"], dialect=m["dialect"], access_token=m["access_token"],
                   data=dict(m["data"] or {}), created_at=m["created_at"])


class TaskExtrasStore:
    """Put, get, look up by token and update a dialect's per-task rows."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._auto = autocommit(engine)

    def put(self, task_id: str, dialect: str, *, access_token: str | None = None,
            data: dict[str, Any] | None = None) -> TaskExtras:
        """Store the row of a new task (``InvalidInput`` if the task or token has one)."""
        extras = TaskExtras(task_id, dialect, access_token, dict(data or {}), self.clock())
        with write_lock(self.engine), self._auto.connect() as conn:
            try:
                conn.execute(q.INSERT_TASK_EXTRAS, {
                    "task_id": task_id, "dialect": dialect, "access_token": access_token,
                    "data": extras.data, "created_at": extras.created_at})
            except IntegrityError as exc:
                raise InvalidInput(f"task {task_id} already has its {dialect} data",
                                   param="id") from exc
        return extras

    def get(self, task_id: str) -> TaskExtras | None:
        """The row of a task, if its dialect wrote one."""
        if has_nul(task_id):
            return None
        with self._auto.connect() as conn:
            row = conn.execute(q.TASK_EXTRAS, {"p_id": task_id}).first()
        return TaskExtras.from_row(row) if row is not None else None

    def by_token(self, access_token: str) -> TaskExtras | None:
        """The row whose access token is ``access_token``."""
        if has_nul(access_token):
            return None
        with self._auto.connect() as conn:
            row = conn.execute(q.TASK_EXTRAS_BY_TOKEN, {"p_token": access_token}).first()
        return TaskExtras.from_row(row) if row is not None else None

    def update_data(self, task_id: str, data: dict[str, Any]) -> None:
        """Replace a row's data."""
        with write_lock(self.engine), self._auto.connect() as conn:
            conn.execute(q.UPDATE_TASK_EXTRAS, {"p_id": task_id, "p_data": data})
