"""TaskQueue: the durable task store and queue, one method per transition.

Runs on SQLite (embedded; ``BEGIN IMMEDIATE`` write transactions, WAL) and PostgreSQL
(``FOR UPDATE SKIP LOCKED`` in a MATERIALIZED CTE, LISTEN/NOTIFY wake-ups) through one code
path; the statements live in ``db/queries.py``. Every worker write is fenced by the lease
token handed out by ``claim``: it matches ``id AND lease_token AND status='running'``, and
zero rows means ``LeaseLost``. Every other transition names the status it expects and raises
``InvalidTransition`` when no row matches. Owner-scoped reads answer ``NotFound`` for
another owner's task.

Every transition that makes a task with a ``callback_url`` terminal (finish, fail, stop,
release of a killed task, cancel of a queued task, the reaper's failed/cancelled, expiry)
writes its webhook outbox row (``db/outbox.py``) in the same transaction.

Times are unix seconds from ``clock`` (``time.time`` unless a test injects a fake one).
"""

from __future__ import annotations

import builtins
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Row
from sqlalchemy.exc import IntegrityError, OperationalError

from framecast.core.errors import (
    InvalidInput,
    InvalidTransition,
    LeaseLost,
    NotFound,
    StorageUnavailable,
    out_of_space,
)
from framecast.core.task import LEASE_S, MAX_RERUNS, TIER_PRIORITY, OutputFile, Task, TaskStatus
from framecast.db import queries as q
from framecast.db.database import autocommit, open_database, read_only, write_lock
from framecast.db.outbox import delivery_values
from framecast.db.records import Claim, HeartbeatReply, NewTask, task_from_row
from framecast.db.wakeups import CancelListener, Notifier, Wakeups

log = logging.getLogger("framecast.db")

__all__ = ["Claim", "HeartbeatReply", "NewTask", "TaskQueue", "task_from_row"]

ANALYZE_MIN_CHANGES = 1000      # rows changed before ``refresh_statistics`` analyzes
STATS_LOCK_KEY = 0x46524D41     # "FRMA": one worker analyzes at a time


def has_nul(*values: object) -> bool:
    """Whether a client's string holds a NUL character, which no stored id, token or name
    does (and which PostgreSQL refuses to compare): such a lookup finds nothing."""
    return any(isinstance(v, str) and "\x00" in v for v in values)


@contextmanager
def full_disk_passes() -> Iterator[None]:
    """A write the database cannot make because its disk is full is ``StorageUnavailable``
    (503 with Retry-After at the API; a worker backs off), not an internal error."""
    try:
        yield
    except OperationalError as exc:
        if out_of_space(exc):
            raise StorageUnavailable("the server's storage is full; try again later") from exc
        raise


class TaskQueue:
    """One method per transition; the worker and the service never see SQL."""

    def __init__(self, engine: Engine, *, lease_s: float = LEASE_S,
                 max_reruns: int = MAX_RERUNS, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.lease_s = lease_s
        self.max_reruns = max_reruns
        self.clock = clock
        self._read = read_only(engine)     # consistent multi-statement reads
        self._auto = autocommit(engine)    # one statement, committed on its own
        self._dialect = engine.dialect.name
        self._wakeups = Wakeups(engine)
        self._notifier = Notifier(self._auto) if self._dialect == "postgresql" else None
        self._owns_engine = False
        # set when this process wrote a webhook outbox row (wakes its deliverer at once)
        self.webhooks_pending = threading.Event()

    @property
    def local_reads(self) -> bool:
        """Whether a read by id is quick and sure enough to make on the API's event loop: a
        SQLite file (WAL: microseconds, never waits for a writer) or PostgreSQL on this
        machine (loopback or a unix socket: a round trip of about 0.1 ms). A remote
        PostgreSQL is read from a worker thread, so a slow network cannot stall the API."""
        if self._dialect == "sqlite":
            return True
        host = self.engine.url.host or self.engine.url.query.get("host")
        if not host or (isinstance(host, str) and host.startswith("/")) or host == "localhost":
            return True            # a unix socket, or this machine by name
        try:
            return ipaddress.ip_address(str(host)).is_loopback
        except ValueError:
            return False

    @classmethod
    def open(cls, url: str, **kwargs: Any) -> TaskQueue:
        """Open (and migrate) the database at ``url`` and return a queue that owns it."""
        queue = cls(open_database(url), **kwargs)
        queue._owns_engine = True
        return queue

    def close(self) -> None:
        """Send pending NOTIFYs, stop the wake-up listener; dispose of the engine when
        ``open`` created it."""
        if self._notifier is not None:
            self._notifier.close()
        self._wakeups.close()
        if self._owns_engine:
            self.engine.dispose()

    # ---- transactions --------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction of several statements (``BEGIN IMMEDIATE`` on SQLite)."""
        with full_disk_passes(), write_lock(self.engine), self.engine.begin() as conn:
            yield conn

    def _write_one(self, stmt: Executable, params: dict[str, Any]) -> Row[Any] | None:
        """Run one writing statement in its own transaction; its first returned row."""
        with full_disk_passes(), write_lock(self.engine), self._auto.connect() as conn:
            return conn.execute(stmt, params).first()

    def _record_final(self, conn: Connection, rows: Sequence[Any]) -> bool:
        """Write the webhook outbox rows of tasks ``rows`` made terminal, on ``conn`` (inside
        the transaction of that change); whether any was written."""
        now = self.clock()
        values = [v for row in rows if row is not None
                  if (v := delivery_values(row, now)) is not None]
        if values:
            conn.execute(q.INSERT_DELIVERY, values)
        return bool(values)

    def _write_final(self, stmt: Executable, params: dict[str, Any]) -> Row[Any] | None:
        """Run one statement that may make a task terminal, with its outbox row, in one
        transaction; its first returned row."""
        with self._writing() as conn:
            row = conn.execute(stmt, params).first()
            written = self._record_final(conn, [row])
        self._webhooks_written(written)
        return row

    def _webhooks_written(self, written: bool) -> None:
        """After the commit: wake this process's deliverer."""
        if written:
            self.webhooks_pending.set()

    def _read_one(self, stmt: Executable, params: dict[str, Any]) -> Row[Any] | None:
        """Run one reading statement without an explicit transaction; its first row."""
        with self._auto.connect() as conn:
            return conn.execute(stmt, params).first()

    def _notify(self, channel: str, payload: str, conn: Connection | None = None) -> None:
        """Tell other processes, after the change it announces has committed: NOTIFY on
        PostgreSQL (on ``conn`` when it is an autocommit connection), a datagram to the
        other processes of the file on SQLite."""
        if self._dialect != "postgresql":
            self._wakeups.announce(channel, payload)
            return
        params = {"p_channel": channel, "p_payload": payload}
        if conn is not None:
            conn.execute(q.NOTIFY, params)
            return
        with self._auto.connect() as own:
            own.execute(q.NOTIFY, params)

    # ---- enqueue and reads ---------------------------------------------------------------

    def enqueue(self, new: NewTask) -> Task:
        """Insert a queued task (and NOTIFY on PostgreSQL); returns the stored task."""
        result = self.enqueue_many([new])[0]
        if isinstance(result, InvalidInput):
            raise result
        return result

    def enqueue_many(self, news: Sequence[NewTask]) -> builtins.list[Task | InvalidInput]:
        """Insert queued tasks in one transaction (one commit for all: the request path's
        group commit); per task, the stored task or ``InvalidInput`` for an id that exists
        (then the others are inserted one by one, so only that one fails)."""
        now = self.clock()
        rows = [self._task_values(new, now) for new in news]
        records = [{"task_id": new.id, "dialect": new.dialect, "access_token": new.access_token,
                    "data": new.extras or {}, "created_at": now}
                   for new in news if new.extras is not None or new.access_token is not None]
        try:
            # one row commits on its own (saves BEGIN and COMMIT round trips); several, or a
            # task with its dialect's record, in one transaction
            single = len(rows) == 1 and not records
            with full_disk_passes(), write_lock(self.engine), \
                    (self._auto.connect() if single else self.engine.begin()) as conn:
                conn.execute(q.INSERT_TASK, rows[0] if len(rows) == 1 else rows)
                if records:
                    conn.execute(q.INSERT_TASK_EXTRAS, records)
        except IntegrityError:
            if len(news) > 1:   # find the duplicate: the others go in one by one
                return [self.enqueue_many([new])[0] for new in news]
            taken = "id or access token" if records else "id"
            return [InvalidInput(f"task {news[0].id} cannot be stored: its {taken} is taken",
                                 param="id")]
        results: builtins.list[Task | InvalidInput] = [task_from_row(v) for v in rows]
        for engine_name in {new.engine for new in news}:   # after the commit
            if self._notifier is not None:    # PostgreSQL: off the request path
                self._notifier.notify(q.TASK_CHANNEL, engine_name)
            else:                             # SQLite: a datagram costs microseconds
                self._wakeups.announce(q.TASK_CHANNEL, engine_name)
            self._wakeups.work_available(engine_name)
        return results

    @staticmethod
    def _task_values(new: NewTask, now: float) -> dict[str, Any]:
        """Every column of a newly queued task."""
        return {
            "id": new.id, "owner_id": new.owner_id, "kind": new.kind, "model": new.model,
            "engine": new.engine, "engine_options": new.engine_options,
            "dialect": new.dialect, "status": q.QUEUED,
            "spec": new.spec, "service_tier": new.service_tier,
            "tier_rank": TIER_PRIORITY.get(new.service_tier, 0), "priority": new.priority,
            "progress": 0.0, "step": 0, "total_steps": 0, "attempt": 0, "reruns": 0,
            "lease_token": None, "lease_expires_at": None, "worker_id": None,
            "cancel_requested": False, "cancel_reason": None, "error_code": None,
            "error_message": None, "outputs": [], "usage_tokens": new.usage_tokens,
            "seed": new.seed, "callback_url": new.callback_url, "created_at": now,
            "updated_at": now, "started_at": None, "finished_at": None,
            "expires_at": now + new.execution_expires_after, "engine_seconds": 0.0,
        }

    def get(self, task_id: str, *, owner_id: str | None = None) -> Task:
        """The task; ``NotFound`` if absent or owned by another owner (when ``owner_id``)."""
        if has_nul(task_id):
            raise NotFound(f"task {task_id!r} not found", task_id=task_id)
        row = self._read_one(q.GET_TASK, {"p_id": task_id})
        if row is None or (owner_id is not None and row.owner_id != owner_id):
            raise NotFound(f"task {task_id} not found", task_id=task_id)
        return task_from_row(row)

    def get_many(self, task_ids: Sequence[str]) -> dict[str, Task]:
        """The tasks of ``task_ids`` that exist, by id, read in one statement (any owner:
        the caller scopes them)."""
        wanted = builtins.list({t for t in task_ids if not has_nul(t)})
        if not wanted:
            return {}
        with self._auto.connect() as conn:
            rows = conn.execute(q.GET_TASKS, {"p_ids": wanted}).all()
        return {row.id: task_from_row(row) for row in rows}

    def list(self, owner_id: str, *, statuses: Sequence[str] | None = None,
             task_ids: Sequence[str] | None = None, model: str | None = None,
             service_tier: str | None = None, kind: str | None = None,
             offset: int = 0, limit: int = 10) -> tuple[int, builtins.list[Task]]:
        """(total matching, page) newest first."""
        if has_nul(model, service_tier, kind, *(statuses or ()), *(task_ids or ())):
            return 0, []     # no stored value holds a NUL character
        terms = q.list_filters(owner_id, statuses=statuses, task_ids=task_ids, model=model,
                               service_tier=service_tier, kind=kind)
        with self._read.connect() as conn:
            total = conn.execute(q.list_total(terms)).scalar_one()
            rows = conn.execute(q.list_page(terms, offset=offset, limit=limit)).all()
        return total, [task_from_row(r) for r in rows]

    def counts_by_status(self, owner_id: str | None = None) -> dict[str, int]:
        """How many tasks are in each status (every status present, zeros included)."""
        stmt = q.COUNT_BY_STATUS
        if owner_id is not None:
            stmt = stmt.where(q.T.owner_id == owner_id)
        with self._auto.connect() as conn:
            counts = dict(conn.execute(stmt).tuples().all())
        return {s.value: int(counts.get(s.value, 0)) for s in TaskStatus}

    def count_queued(self, owner_id: str) -> int:
        """How many of ``owner_id``'s tasks are queued (one indexed count, for quotas)."""
        row = self._read_one(q.COUNT_QUEUED_FOR_OWNER, {"p_owner": owner_id})
        return int(row[0]) if row is not None else 0

    def queue_depth(self) -> int:
        """How many tasks are queued (the backlog workers have not claimed yet)."""
        row = self._read_one(q.QUEUE_DEPTH, {})
        return int(row[0]) if row is not None else 0

    # ---- worker transitions --------------------------------------------------------------

    def claim(self, worker_id: str, engines: Sequence[str] | None = None,
              limit: int = 1, *, lease_s: float | None = None) -> builtins.list[Claim]:
        """Claim up to ``limit`` queued tasks whose engine is in ``engines`` (None = any):
        ``default`` tier before ``flex``, then priority, oldest first; sets running,
        attempt+1, a new lease token, lease expiry. Never returns an expired task.

        One token fences the whole batch: writes also match the task id, so sharing it
        across different tasks of one claim cannot let one holder write another's task."""
        if engines is not None and not engines:
            return []
        now = self.clock()
        token = secrets.token_hex(16)
        params: dict[str, Any] = {
            "p_now": now, "p_limit": limit, "p_token": token, "p_worker": worker_id,
            "p_lease_until": now + (lease_s if lease_s is not None else self.lease_s)}
        if engines is None:
            stmt = q.CLAIM_NEXT_ANY_ENGINE[self._dialect]
        else:
            stmt = q.CLAIM_NEXT[self._dialect]
            params["p_engines"] = sorted(set(engines))
        with write_lock(self.engine), self._auto.connect() as conn:
            rows = conn.execute(stmt, params).all()
        rows.sort(key=lambda r: (r.tier_rank, r.priority, r.created_at, r.id))
        return [Claim(task=task_from_row(r), lease_token=token) for r in rows]

    def heartbeat(self, task_id: str, lease_token: str, *,
                  lease_s: float | None = None) -> HeartbeatReply:
        """Extend the lease; ``LeaseLost`` when the token no longer holds the task."""
        now = self.clock()
        params = {"p_id": task_id, "p_token": lease_token, "p_now": now,
                  "p_lease_until": now + (lease_s if lease_s is not None else self.lease_s)}
        return self._reply(self._write_one(q.HEARTBEAT, params), task_id, "heartbeat")

    def progress(self, task_id: str, lease_token: str, step: int, total: int, *,
                 lease_s: float | None = None) -> HeartbeatReply:
        """Record progress (and extend the lease); fenced like ``heartbeat``."""
        now = self.clock()
        params = {"p_id": task_id, "p_token": lease_token, "p_now": now,
                  "p_lease_until": now + (lease_s if lease_s is not None else self.lease_s),
                  "p_step": step, "p_total": total,
                  "p_progress": min(1.0, max(0.0, step / total)) if total > 0 else 0.0}
        return self._reply(self._write_one(q.PROGRESS, params), task_id, "progress")

    def publish(self, task_id: str, lease_token: str, outputs: builtins.list, *,
                lease_s: float | None = None) -> HeartbeatReply:
        """Record the files a running attempt has stored so far (and extend the lease), so a
        client waiting on the task sees each as it is made; fenced like ``heartbeat``.
        ``finish`` writes the full list; a re-queue clears it."""
        now = self.clock()
        files = [o.to_dict() if isinstance(o, OutputFile) else dict(o) for o in outputs]
        params = {"p_id": task_id, "p_token": lease_token, "p_now": now, "p_outputs": files,
                  "p_lease_until": now + (lease_s if lease_s is not None else self.lease_s)}
        return self._reply(self._write_one(q.PUBLISH, params), task_id, "publish")

    def kill_requested(self, task_id: str, lease_token: str) -> HeartbeatReply:
        """A cheap fenced read of the kill flag (no write); ``LeaseLost`` like ``heartbeat``."""
        row = self._read_one(q.KILL_FLAG, {"p_id": task_id, "p_token": lease_token})
        return self._reply(row, task_id, "kill check")

    @staticmethod
    def _reply(row: Row[Any] | None, task_id: str, what: str) -> HeartbeatReply:
        if row is None:
            raise LeaseLost(f"{what} for task {task_id}: the lease is no longer held",
                            task_id=task_id)
        return HeartbeatReply(bool(row.cancel_requested), row.cancel_reason)

    def finish(self, task_id: str, lease_token: str, *, outputs: builtins.list, seed: int | None,
               usage_tokens: int, engine_seconds: float,
               engine_info: dict[str, Any] | None = None) -> Task:
        """running → succeeded with outputs, in one transaction; ``LeaseLost`` if fenced out.
        ``outputs`` holds ``OutputFile`` objects or their dicts; ``engine_info`` is what the
        engine reported doing."""
        files = [o.to_dict() if isinstance(o, OutputFile) else dict(o) for o in outputs]
        params = {"p_id": task_id, "p_token": lease_token, "p_now": self.clock(),
                  "p_outputs": files, "p_seed": seed, "p_usage_tokens": usage_tokens,
                  "p_engine_seconds": engine_seconds, "p_engine_info": engine_info}
        row = self._write_one(q.FINISH_UNHOOKED, params)
        if row is None:   # a callback to record with it, or the lease is gone
            row = self._write_final(q.FINISH, params)
        return self._fenced_result(row, task_id, "finish")

    def fail(self, task_id: str, lease_token: str, *, code: str, message: str,
             rerun: bool = False) -> Task:
        """running → failed; with ``rerun`` and re-runs left, running → queued instead.

        A task whose kill was requested is never re-run: with ``rerun`` it ends
        cancelled (or expired), as the reaper would end it."""
        params = {"p_id": task_id, "p_token": lease_token, "p_now": self.clock(),
                  "p_code": code, "p_message": message, "p_max_reruns": self.max_reruns}
        with self._writing() as conn:
            row = None
            if rerun:
                row = conn.execute(q.REQUEUE, params).first()
                if row is None:
                    flag = conn.execute(q.KILL_FLAG, params).first()
                    if flag is not None and flag.cancel_requested:
                        row = conn.execute(q.STOP, params).first()
            if row is None:
                row = conn.execute(q.FAIL, params).first()
            written = self._record_final(conn, [row])
        self._webhooks_written(written)
        task = self._fenced_result(row, task_id, "fail")
        if task.status is TaskStatus.QUEUED:
            self._work_available(task.engine)
        return task

    def stop(self, task_id: str, lease_token: str) -> Task:
        """running → cancelled (or expired when the kill was for expiry), fenced."""
        row = self._write_final(q.STOP, {"p_id": task_id, "p_token": lease_token,
                                         "p_now": self.clock()})
        return self._fenced_result(row, task_id, "stop")

    def release(self, task_id: str, lease_token: str) -> Task:
        """running → queued without counting a re-run (graceful worker shutdown), fenced.
        A task whose kill was requested is stopped instead, never handed back."""
        params = {"p_id": task_id, "p_token": lease_token, "p_now": self.clock()}
        with self._writing() as conn:
            row = conn.execute(q.RELEASE, params).first()
            if row is None:
                row = conn.execute(q.STOP, params).first()
            written = self._record_final(conn, [row])
        self._webhooks_written(written)
        task = self._fenced_result(row, task_id, "release")
        if task.status is TaskStatus.QUEUED:
            self._work_available(task.engine)
        return task

    def _work_available(self, engine: str) -> None:
        """Announce a task that (re-)entered the queue, here and to other processes."""
        self._notify(q.TASK_CHANNEL, engine)
        self._wakeups.work_available(engine)

    @staticmethod
    def _fenced_result(row: Row[Any] | None, task_id: str, what: str) -> Task:
        if row is None:
            raise LeaseLost(f"cannot {what} task {task_id}: the lease is no longer held",
                            task_id=task_id)
        return task_from_row(row)

    # ---- client transitions --------------------------------------------------------------

    def cancel(self, task_id: str, owner_id: str) -> Task:
        """queued → cancelled at once; running → cancel_requested (the worker stops it);
        a terminal task raises ``InvalidTransition``."""
        if has_nul(task_id):
            raise NotFound(f"task {task_id!r} not found", task_id=task_id)
        params = {"p_id": task_id, "p_owner": owner_id, "p_now": self.clock()}
        with self._writing() as conn:
            # a few rounds: on PostgreSQL a task may move queued↔running between statements
            for _ in range(3):
                row = conn.execute(q.CANCEL_QUEUED, params).first()
                if row is not None:
                    break
                row = conn.execute(q.REQUEST_CANCEL, params).first()
                if row is not None:
                    break
            written = self._record_final(conn, [row])
        self._webhooks_written(written)
        if row is None:
            self._refuse(task_id, owner_id, "cancel")
        task = task_from_row(row)
        if task.status is TaskStatus.RUNNING:
            self._kill_requested(task_id)
        return task

    def _kill_requested(self, task_id: str) -> None:
        """Announce a kill request, here and to other processes."""
        self._notify(q.CANCEL_CHANNEL, task_id)
        self._wakeups.cancel_requested(task_id)

    def cancel_queued(self, task_id: str, owner_id: str) -> Task:
        """queued → cancelled only; any other status raises ``InvalidTransition``."""
        if has_nul(task_id):
            raise NotFound(f"task {task_id!r} not found", task_id=task_id)
        params = {"p_id": task_id, "p_owner": owner_id, "p_now": self.clock()}
        row = self._write_final(q.CANCEL_QUEUED, params)
        if row is None:
            self._refuse(task_id, owner_id, "cancel (queued only)")
        return task_from_row(row)

    def delete(self, task_id: str, owner_id: str) -> Task:
        """Delete a terminal task's record (returns it so the caller can delete files)."""
        if has_nul(task_id):
            raise NotFound(f"task {task_id!r} not found", task_id=task_id)
        row = self._write_one(q.DELETE_TERMINAL, {"p_id": task_id, "p_owner": owner_id})
        if row is None:
            self._refuse(task_id, owner_id, "delete")
        return task_from_row(row)

    def _refuse(self, task_id: str, owner_id: str, what: str) -> None:
        """No row matched: ``NotFound`` for an unknown or foreign task, else the status
        does not allow ``what``."""
        task = self.get(task_id, owner_id=owner_id)
        raise InvalidTransition(f"cannot {what} task {task_id}: it is {task.status.value}",
                                task_id=task_id, status=task.status.value)

    # ---- maintenance ---------------------------------------------------------------------

    def requeue_lapsed(self) -> builtins.list[str]:
        """Reaper: running tasks whose lease lapsed go back to queued (re-runs+1), or to
        failed past ``max_reruns``; a lapsed task whose kill was requested ends cancelled
        (or expired). Returns the ids touched."""
        params = {"p_now": self.clock(), "p_max_reruns": self.max_reruns,
                  "p_message": (f"the worker running this task stopped renewing its lease; "
                                f"giving up after {self.max_reruns} re-runs")}
        with self._writing() as conn:
            stopped_rows = conn.execute(q.REAP_LAPSED_CANCELLED, params).all()
            requeued = conn.execute(q.REAP_LAPSED, params).scalars().all()
            failed_rows = conn.execute(q.REAP_LAPSED_FAILED, params).all()
            written = self._record_final(conn, [*stopped_rows, *failed_rows])
        self._webhooks_written(written)
        stopped = [r.id for r in stopped_rows]
        failed = [r.id for r in failed_rows]
        if requeued:
            self._work_available("")
        for kind, ids in (("re-queued", requeued), ("failed", failed), ("stopped", stopped)):
            if ids:
                log.warning("lease lapsed; %s %d task(s): %s", kind, len(ids), ", ".join(ids))
        return [*stopped, *requeued, *failed]

    def expire_due(self) -> builtins.list[str]:
        """Queued tasks past ``expires_at`` → expired; running ones get a kill request
        with reason ``expired``. Returns the ids touched."""
        params = {"p_now": self.clock()}
        with self._writing() as conn:
            expired_rows = conn.execute(q.EXPIRE_QUEUED, params).all()
            killing = conn.execute(q.EXPIRE_RUNNING, params).scalars().all()
            written = self._record_final(conn, expired_rows)
        self._webhooks_written(written)
        expired = [r.id for r in expired_rows]
        for task_id in killing:
            self._kill_requested(task_id)
        return [*expired, *killing]

    def finished_before(self, before: float, *, limit: int) -> builtins.list[str]:
        """Ids of up to ``limit`` finished tasks that ended before ``before`` (oldest
        first): what the retention purge removes."""
        with self.engine.connect() as conn:
            return list(conn.execute(q.FINISHED_BEFORE, {"p_before": before,
                                                         "p_limit": limit}).scalars())

    def purge_finished(self, task_ids: Sequence[str], before: float) -> int:
        """Delete the records of those of ``task_ids`` that are finished and ended before
        ``before``, with their webhook rows and dialect records; how many tasks went.
        Idempotent: a record already gone is not counted."""
        if not task_ids:
            return 0
        with self._writing() as conn:
            purged = list(conn.execute(q.PURGE_TASKS, {"p_ids": list(task_ids),
                                                       "p_before": before}).scalars())
            if purged:
                for stmt in q.PURGE_TASK_ROWS:
                    conn.execute(stmt, {"p_ids": purged})
        return len(purged)

    def refresh_statistics(self) -> bool:
        """PostgreSQL: ``ANALYZE tasks`` once enough rows changed since the last one
        (``ANALYZE_MIN_CHANGES``, and a tenth of the table), and no other worker is at it;
        whether it ran. Autovacuum would, within a minute or more; until then a burst of
        tasks on a young table leaves the planner guessing, and a guess that sorts the
        backlog on every claim turns a drain quadratic. A no-op on SQLite, whose claim
        names its index."""
        if self._dialect != "postgresql":
            return False
        row = self._read_one(q.TASKS_CHANGES, {})
        if row is None or row[0] < max(ANALYZE_MIN_CHANGES, 0.1 * row[1]):
            return False
        with self.engine.begin() as conn:   # (a role that does not own the table: a no-op)
            if not conn.execute(q.STATS_LOCK, {"p_key": STATS_LOCK_KEY}).scalar():
                return False
            conn.execute(q.ANALYZE_TASKS)
        log.debug("analyzed the tasks table (%d rows changed)", row[0])
        return True

    # ---- wake-ups ------------------------------------------------------------------------

    def wait_for_work(self, timeout_s: float, engines: Sequence[str] | None = None) -> None:
        """Block until an enqueue in this process or another (NOTIFY on PostgreSQL, the
        wake-up bus on SQLite) says there is work for one of ``engines`` (None: any), or
        ``timeout_s`` passes. Only a hint: claim is the source of truth."""
        self._wakeups.wait_for_work(timeout_s, engines)

    def notify_local(self) -> None:
        """Wake this process's ``wait_for_work`` callers (e.g. on shutdown)."""
        self._wakeups.work_available()

    def add_cancel_listener(self, listener: CancelListener) -> None:
        """Call ``listener(task_id)`` when a kill is requested in any process of the
        database (NOTIFY ``framecast_cancel``, or the SQLite wake-up bus). A hint, like
        ``wait_for_work``."""
        self._wakeups.add_cancel_listener(listener)

    def remove_cancel_listener(self, listener: CancelListener) -> None:
        """Undo ``add_cancel_listener``."""
        self._wakeups.remove_cancel_listener(listener)
