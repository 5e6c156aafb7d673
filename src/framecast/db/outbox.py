"""The webhook outbox: durable delivery rows, claimed by deliverers under a lease.

``TaskQueue`` writes one ``webhook_deliveries`` row (``delivery_values``) in the transaction
that makes a task with a ``callback_url`` terminal, so a final status is never committed
without its webhook, whatever dies afterwards. ``Outbox`` is the deliverers' side, one method
per transition, like ``TaskQueue``:

    pending ──claim──▶ delivering ──complete──▶ delivered | disabled | failed
       ▲                   │  └──────release──▶ pending (a stopping deliverer)
       └──── retry ────────┘
    delivered/disabled/failed/pending ──replay──▶ pending (new series, same msg_id)

A claim hands out a lease token; ``set_payload`` and ``complete`` match ``id AND lease_token
AND status='delivering'``, so two processes never both record an attempt for one claim, and
a deliverer that died mid-attempt loses its rows to another once the lease lapses (PostgreSQL
``FOR UPDATE SKIP LOCKED``; SQLite ``BEGIN IMMEDIATE``). Every attempt is logged in
``webhook_attempts`` in the same transaction as the row's new status.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row

from framecast.db import queries as q
from framecast.db.database import autocommit, read_only, write_lock

OUTCOME_STATUS = {"delivered": q.WEBHOOK_DELIVERED, "retry": q.WEBHOOK_PENDING,
                  "disabled": q.WEBHOOK_DISABLED, "failed": q.WEBHOOK_FAILED}
EXCERPT_CHARS = 1024   # how much of a receiver's answer is kept per attempt


def new_msg_id() -> str:
    """A Standard Webhooks message id: ``msg_`` + 24 random URL-safe characters (no dots)."""
    return "msg_" + secrets.token_urlsafe(18)


def delivery_values(row: Any, now: float) -> dict[str, Any] | None:
    """The outbox row for a task row that just became terminal, or None when the task has
    no ``callback_url`` (``row`` has ``id``, ``owner_id``, ``status``, ``callback_url``)."""
    if not row.callback_url or row.status not in q.TERMINAL_VALUES:
        return None
    return {"id": "whd_" + secrets.token_hex(12), "task_id": row.id, "owner_id": row.owner_id,
            "url": row.callback_url, "event": f"task.{row.status}", "msg_id": new_msg_id(),
            "payload": None, "status": q.WEBHOOK_PENDING, "attempts": 0, "series": 1,
            "next_attempt_at": now, "lease_token": None, "lease_expires_at": None,
            "last_status_code": None, "last_error": None, "created_at": now,
            "updated_at": now, "delivered_at": None}


@dataclass
class Delivery:
    """One outbox row (``lease_token`` is set while a deliverer holds it)."""

    id: str
    task_id: str
    owner_id: str
    url: str
    event: str
    msg_id: str
    payload: str | None
    status: str
    attempts: int
    series: int
    next_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: float
    updated_at: float
    delivered_at: float | None
    lease_token: str | None = None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Delivery:
        """Build from a ``webhook_deliveries`` row."""
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})


@dataclass
class Attempt:
    """One logged attempt: when, what the receiver answered (or the error), how long."""

    delivery_id: str
    series: int
    attempt: int
    at: float
    status_code: int | None
    latency_ms: int
    outcome: str              # delivered | retry | disabled | failed | lease_lost
    error: str | None
    response_excerpt: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Attempt:
        """Build from a ``webhook_attempts`` row."""
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})


@dataclass
class AttemptResult:
    """What one POST came to, as the deliverer judged it."""

    outcome: str                      # delivered | retry | disabled | failed
    next_attempt_at: float | None     # for a retry
    status_code: int | None = None
    latency_ms: int = 0
    error: str | None = None
    response_excerpt: str | None = None


class Outbox:
    """Claim, complete, release, list and replay webhook deliveries."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._auto = autocommit(engine)
        self._read = read_only(engine)
        self._dialect = engine.dialect.name

    def claim(self, limit: int, lease_s: float) -> list[Delivery]:
        """Claim up to ``limit`` due deliveries (oldest due first) under a new lease token."""
        now = self.clock()
        token = secrets.token_hex(16)
        params = {"p_now": now, "p_limit": limit, "p_token": token,
                  "p_lease_until": now + lease_s}
        with write_lock(self.engine), self._auto.connect() as conn:
            rows = conn.execute(q.CLAIM_DELIVERIES[self._dialect], params).all()
        return sorted((Delivery.from_row(r) for r in rows),
                      key=lambda d: (d.next_attempt_at or 0.0, d.id))

    def set_payload(self, delivery: Delivery, payload: str) -> bool:
        """Keep the rendered body, so every retry of the series sends the same bytes;
        False when the lease no longer holds."""
        with write_lock(self.engine), self._auto.connect() as conn:
            row = conn.execute(q.SET_DELIVERY_PAYLOAD, {
                "p_id": delivery.id, "p_token": delivery.lease_token,
                "p_payload": payload}).first()
        if row is not None:
            delivery.payload = payload
        return row is not None

    def complete(self, delivery: Delivery, result: AttemptResult) -> bool:
        """Record one attempt and the row's new status in one transaction (fenced by the
        lease). The attempt is logged even when the lease was lost (it was sent); returns
        whether the lease still held."""
        now = self.clock()
        status = OUTCOME_STATUS[result.outcome]
        params = {"p_id": delivery.id, "p_token": delivery.lease_token, "p_now": now,
                  "p_status": status,
                  "p_next": result.next_attempt_at if status == q.WEBHOOK_PENDING else None,
                  "p_code": result.status_code, "p_error": result.error,
                  "p_delivered_at": now if status == q.WEBHOOK_DELIVERED else None}
        with write_lock(self.engine), self.engine.begin() as conn:
            row = conn.execute(q.COMPLETE_DELIVERY, params).first()
            attempt, series = (row.attempts, row.series) if row is not None else \
                (delivery.attempts + 1, delivery.series)
            conn.execute(q.INSERT_ATTEMPT, {
                "delivery_id": delivery.id, "task_id": delivery.task_id, "series": series,
                "attempt": attempt, "at": now, "status_code": result.status_code,
                "latency_ms": result.latency_ms,
                "outcome": result.outcome if row is not None else "lease_lost",
                "error": result.error, "response_excerpt": _clip(result.response_excerpt)})
        if row is not None:
            delivery.status, delivery.attempts, delivery.lease_token = status, attempt, None
        return row is not None

    def release(self, delivery: Delivery) -> None:
        """Hand a claimed row back (due now) without counting an attempt."""
        with write_lock(self.engine), self._auto.connect() as conn:
            conn.execute(q.RELEASE_DELIVERY, {"p_id": delivery.id,
                                              "p_token": delivery.lease_token,
                                              "p_now": self.clock()})

    def for_task(self, task_id: str) -> tuple[list[Delivery], list[Attempt]]:
        """A task's deliveries and every attempt of theirs, oldest first."""
        with self._read.connect() as conn:
            deliveries = conn.execute(q.DELIVERIES_OF_TASK, {"p_task": task_id}).all()
            attempts = conn.execute(q.ATTEMPTS_OF_TASK, {"p_task": task_id}).all()
        return ([Delivery.from_row(r) for r in deliveries], [Attempt.from_row(r) for r in attempts])

    def backlog(self) -> int:
        """How many deliveries are not done yet (pending or being attempted)."""
        with self._auto.connect() as conn:
            return int(conn.execute(q.WEBHOOK_BACKLOG).scalar_one())

    def replay(self, task_id: str, owner_id: str) -> Sequence[str]:
        """Start a new attempt series (due now, same ``msg_id``) for every delivery of the
        task that is not being attempted right now; returns the ids replayed."""
        params = {"p_task": task_id, "p_owner": owner_id, "p_now": self.clock()}
        with write_lock(self.engine), self._auto.connect() as conn:
            return conn.execute(q.REPLAY_DELIVERIES, params).scalars().all()


def _clip(text: str | None) -> str | None:
    return text[:EXCERPT_CHARS] if text is not None else None
