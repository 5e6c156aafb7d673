"""The records the queue takes and hands out: ``NewTask`` in, ``Claim`` and
``HeartbeatReply`` out, and the mapping of a ``tasks`` row to a ``core.task.Task``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from framecast.core.task import OutputFile, Task, TaskStatus


@dataclass
class NewTask:
    """What ``enqueue`` stores. ``id`` is chosen by the service (``cgt-YYYYMMDDHHMMSS-xxxxx``)."""

    id: str
    owner_id: str
    kind: str
    model: str
    engine: str
    spec: dict
    engine_options: dict | None = None   # frozen at create time; the worker runs with them
    dialect: str = "ark"
    service_tier: str = "default"
    priority: int = 0
    seed: int | None = None
    callback_url: str | None = None
    usage_tokens: int = 0
    execution_expires_after: int = 172800
    # the creating dialect's own record, stored in the same transaction (``task_extras``)
    access_token: str | None = None
    extras: dict | None = None


@dataclass
class Claim:
    """A claimed task and the lease token that fences every later write."""

    task: Task
    lease_token: str


@dataclass
class HeartbeatReply:
    """What a heartbeat learns: whether a kill was asked for, and why."""

    cancel_requested: bool
    cancel_reason: str | None = None   # "cancel" | "expired"


def task_from_row(row: Row[Any] | dict[str, Any]) -> Task:
    """Build a ``Task`` from a ``tasks`` row (or the dict that was inserted)."""
    m = row._mapping if isinstance(row, Row) else row
    return Task(
        id=m["id"], owner_id=m["owner_id"], kind=m["kind"], model=m["model"],
        engine=m["engine"], engine_options=m["engine_options"],
        status=TaskStatus(m["status"]), spec=m["spec"],
        dialect=m["dialect"], service_tier=m["service_tier"], priority=m["priority"],
        progress=m["progress"], step=m["step"], total_steps=m["total_steps"],
        attempt=m["attempt"], reruns=m["reruns"], cancel_requested=bool(m["cancel_requested"]),
        cancel_reason=m["cancel_reason"], error_code=m["error_code"],
        error_message=m["error_message"],
        outputs=[OutputFile.from_dict(o) for o in (m["outputs"] or [])],
        usage_tokens=m["usage_tokens"], seed=m["seed"], callback_url=m["callback_url"],
        worker_id=m["worker_id"], created_at=m["created_at"], updated_at=m["updated_at"],
        started_at=m["started_at"], finished_at=m["finished_at"], expires_at=m["expires_at"],
        engine_seconds=m["engine_seconds"], engine_info=m.get("engine_info"))
