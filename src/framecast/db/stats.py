"""Read-only statistics over the task store: readiness, Prometheus metrics, per-key usage.

The statements are named here, next to the one small reader that runs them (``StatsReader``);
nothing in this module writes. Each runs on its own autocommit connection (no BEGIN/COMMIT on
SQLite, no transaction to poison on PostgreSQL), so a failing statement, such as the webhook
backlog on a database that has no outbox table yet, never affects the others.

Cost notes: the per-status and queued counts are served by the status-first indexes;
the usage query by ``ix_tasks_owner_created``; the duration statements scan the succeeded
tasks (there is no index on ``finished_at``), which is fine at scrape intervals for tables of
a few hundred thousand rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from framecast.db.database import autocommit
from framecast.db.tables import tasks, webhook_deliveries

log = logging.getLogger("framecast.db")

T = tasks.c
W = webhook_deliveries.c
QUEUED = "queued"
SUCCEEDED = "succeeded"
FAILED = "failed"
WEBHOOK_PENDING = "pending"
RECENT_DURATIONS = 500      # how many recently finished tasks the duration quantiles cover

# ---- named statements ----------------------------------------------------------------------

PING = text("SELECT 1")

QUEUED_BY_MODEL_TIER = (select(T.model, T.service_tier, func.count())
                        .where(T.status == QUEUED)
                        .group_by(T.model, T.service_tier))

_FINISHED_OK = (T.status == SUCCEEDED, T.started_at.is_not(None), T.finished_at.is_not(None))

DURATION_TOTALS = (select(T.kind, func.count(), func.sum(T.finished_at - T.created_at),
                          func.sum(T.finished_at - T.started_at))
                   .where(*_FINISHED_OK)
                   .group_by(T.kind))

RECENT_DURATIONS_STMT = (select(T.kind, T.created_at, T.started_at, T.finished_at)
                         .where(*_FINISHED_OK)
                         .order_by(T.finished_at.desc())
                         .limit(bindparam("p_limit")))

FAILURES_BY_REASON = (select(T.error_code, func.count())
                      .where(T.status == FAILED)
                      .group_by(T.error_code))

WEBHOOK_BACKLOG = (select(func.count()).select_from(webhook_deliveries)
                   .where(W.status == WEBHOOK_PENDING))

# one owner's tasks created in [p_since, p_until), by kind, model and status
USAGE_BY_MODEL = (select(T.kind, T.model, T.status, func.count(),
                         func.coalesce(func.sum(T.usage_tokens), 0),
                         func.coalesce(func.sum(T.engine_seconds), 0.0))
                  .where(T.owner_id == bindparam("p_owner"),
                         T.created_at >= bindparam("p_since"),
                         T.created_at < bindparam("p_until"))
                  .group_by(T.kind, T.model, T.status))


# ---- rows ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DurationTotals:
    """Totals over every succeeded task of one kind (for a summary's ``_count``/``_sum``)."""

    kind: str
    count: int
    total_s: float        # created → finished, summed
    run_s: float          # started (last attempt) → finished, summed


@dataclass(frozen=True)
class RecentDuration:
    """One recently succeeded task's times (for quantiles)."""

    kind: str
    total_s: float
    run_s: float


@dataclass(frozen=True)
class UsageRow:
    """One (kind, model, status) group of an owner's tasks in a time range."""

    kind: str
    model: str
    status: str
    tasks: int
    tokens: int
    engine_seconds: float


class StatsReader:
    """Runs the statements above against one database engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._auto = autocommit(engine)

    def _rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        with self._auto.connect() as conn:
            return list(conn.execute(stmt, params or {}).all())

    def ping(self) -> None:
        """``SELECT 1``; raises the driver's error when the database cannot answer."""
        self._rows(PING)

    def queued_by_model_tier(self) -> list[tuple[str, str, int]]:
        """(model as sent, service tier, queued count) for every group with queued tasks."""
        return [(r[0], r[1], int(r[2])) for r in self._rows(QUEUED_BY_MODEL_TIER)]

    def duration_totals(self) -> list[DurationTotals]:
        """Per kind: how many tasks succeeded and their summed durations."""
        return [DurationTotals(r[0], int(r[1]), float(r[2] or 0.0), float(r[3] or 0.0))
                for r in self._rows(DURATION_TOTALS)]

    def recent_durations(self, limit: int = RECENT_DURATIONS) -> list[RecentDuration]:
        """The most recently succeeded tasks' durations, newest first."""
        return [RecentDuration(r.kind, r.finished_at - r.created_at, r.finished_at - r.started_at)
                for r in self._rows(RECENT_DURATIONS_STMT, {"p_limit": limit})]

    def failures_by_reason(self) -> dict[str, int]:
        """Failed tasks counted by error code (``unknown`` when none was recorded)."""
        counts: dict[str, int] = {}
        for code, count in self._rows(FAILURES_BY_REASON):
            reason = code or "unknown"
            counts[reason] = counts.get(reason, 0) + int(count)
        return counts

    def webhook_backlog(self) -> int | None:
        """Pending webhook deliveries, or None when the outbox table does not exist."""
        try:
            return int(self._rows(WEBHOOK_BACKLOG)[0][0])
        except SQLAlchemyError as exc:
            log.debug("no webhook backlog: %s", exc)
            return None

    def usage(self, owner_id: str, since: float, until: float) -> list[UsageRow]:
        """An owner's tasks created in ``[since, until)`` grouped by kind, model and status."""
        rows = self._rows(USAGE_BY_MODEL, {"p_owner": owner_id, "p_since": since,
                                           "p_until": until})
        return [UsageRow(r[0], r[1], r[2], int(r[3]), int(r[4] or 0), float(r[5] or 0.0))
                for r in rows]
