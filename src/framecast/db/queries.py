"""Every statement the store runs, by name, as SQLAlchemy Core (one text for both dialects
where the dialects agree).

Conventions:

* Parameters are ``p_*`` bind parameters (the names never collide with column names).
* Times (``p_now``, ``p_lease_until``) come from the queue's clock, never from the database.
* Every worker write is fenced: ``id = :p_id AND lease_token = :p_token AND status =
  'running'``. Zero rows updated means the lease is lost.
* Every transition names the status it expects in its WHERE clause, so a terminal row never
  matches anything that would change it.

The claims (of tasks and of webhook deliveries) are the statements that differ: PostgreSQL
locks candidates in a MATERIALIZED CTE with ``FOR UPDATE SKIP LOCKED`` (the fence keeps the
planner from updating more rows than the LIMIT); SQLite runs ``UPDATE ... WHERE id IN
(SELECT ... LIMIT n)`` inside ``BEGIN IMMEDIATE``, relying on its single writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Delete,
    Select,
    Update,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    text,
    true,
    update,
)

from framecast.core.task import TaskStatus
from framecast.db.tables import (
    JSONType,
    api_keys,
    request_nonces,
    task_extras,
    tasks,
    webhook_attempts,
    webhook_deliveries,
)

T = tasks.c
W = webhook_deliveries.c
E = task_extras.c
K = api_keys.c
QUEUED = TaskStatus.QUEUED.value
RUNNING = TaskStatus.RUNNING.value
SUCCEEDED = TaskStatus.SUCCEEDED.value
FAILED = TaskStatus.FAILED.value
CANCELLED = TaskStatus.CANCELLED.value
EXPIRED = TaskStatus.EXPIRED.value
TERMINAL_VALUES = (SUCCEEDED, FAILED, CANCELLED, EXPIRED)

TASK_CHANNEL = "framecast_tasks"     # payload: the engine name of a newly queued task
CANCEL_CHANNEL = "framecast_cancel"  # payload: the id of a task whose kill was requested


def _p(name: str, type_: Any = None) -> Any:
    return bindparam(name, type_=type_)


def _fenced() -> ColumnElement[bool]:
    """The lease fence every worker write carries."""
    return and_(T.id == _p("p_id"), T.lease_token == _p("p_token"), T.status == RUNNING)


def _owned(status: str) -> ColumnElement[bool]:
    return and_(T.id == _p("p_id"), T.owner_id == _p("p_owner"), T.status == status)


def _lapsed() -> ColumnElement[bool]:
    return and_(T.status == RUNNING, T.lease_expires_at < _p("p_now"))


# the status a stopped task ends in: a kill for expiry ends ``expired``, any other ``cancelled``
_STOPPED_STATUS = case((T.cancel_reason == "expired", EXPIRED), else_=CANCELLED)
# what every transition out of running clears: the lease
_NO_LEASE = {"lease_token": null(), "lease_expires_at": null()}
_BACK_TO_QUEUE = {"status": QUEUED, **_NO_LEASE, "progress": 0.0, "step": 0, "total_steps": 0,
                  "outputs": literal([], JSONType),   # an attempt's published files go too
                  "updated_at": _p("p_now")}
_ENDED = {**_NO_LEASE, "finished_at": _p("p_now"), "updated_at": _p("p_now")}

# ---- enqueue and reads -------------------------------------------------------------------

INSERT_TASK = insert(tasks)

GET_TASK = select(tasks).where(T.id == _p("p_id"))

GET_TASKS = select(tasks).where(T.id.in_(bindparam("p_ids", expanding=True)))

# Sent in its own transaction after the change it announces has committed, with
# synchronous_commit off: a transaction that NOTIFYs holds a database-wide lock through its
# commit, so a NOTIFY inside the (fsync'd) enqueue transaction would serialize every enqueue
# behind one disk flush. A notification lost in a crash costs one poll interval, nothing more.
NOTIFY = text("SELECT set_config('synchronous_commit', 'off', true), "
              "pg_notify(:p_channel, :p_payload)")

COUNT_BY_STATUS = select(T.status, func.count()).group_by(T.status)

# ``status = 'queued'`` written out, not bound: only then may SQLite (and a prepared
# PostgreSQL statement's generic plan) use the partial index ``ix_tasks_queued``
_IS_QUEUED = T.status == literal_column(f"'{QUEUED}'")

QUEUE_DEPTH = select(func.count()).select_from(tasks).where(_IS_QUEUED)

# one owner's queued tasks (served by ix_tasks_owner_status)
COUNT_QUEUED_FOR_OWNER = (select(func.count()).select_from(tasks)
                          .where(T.owner_id == _p("p_owner"), T.status == QUEUED))

# a cheap fenced read of the kill flag (no write lock on SQLite)
KILL_FLAG = select(T.cancel_requested, T.cancel_reason).where(_fenced())


def list_filters(owner_id: str, *, statuses: Sequence[str] | None,
                 task_ids: Sequence[str] | None, model: str | None,
                 service_tier: str | None, kind: str | None) -> list[ColumnElement[bool]]:
    """The WHERE terms of an owner's task listing."""
    terms: list[ColumnElement[bool]] = [T.owner_id == owner_id]
    if statuses:
        terms.append(T.status.in_(list(statuses)))
    if task_ids:
        terms.append(T.id.in_(list(task_ids)))
    if model is not None:
        terms.append(T.model == model)
    if service_tier is not None:
        terms.append(T.service_tier == service_tier)
    if kind is not None:
        terms.append(T.kind == kind)
    return terms


def list_page(terms: list[ColumnElement[bool]], *, offset: int, limit: int) -> Select:
    """One page of an owner's tasks, newest first (served by ``ix_tasks_owner_created``)."""
    return (select(tasks).where(*terms).order_by(T.created_at.desc(), T.id.desc())
            .offset(offset).limit(limit))


def list_total(terms: list[ColumnElement[bool]]) -> Select:
    """How many tasks match the listing's filters."""
    return select(func.count()).select_from(tasks).where(*terms)


# ---- planner statistics (PostgreSQL) -----------------------------------------------------

# rows of ``tasks`` changed since its last ANALYZE, and its live rows (search_path resolves it)
TASKS_CHANGES = text("SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables "
                     "WHERE relid = 'tasks'::regclass")
STATS_LOCK = text("SELECT pg_try_advisory_xact_lock(:p_key)")
ANALYZE_TASKS = text("ANALYZE tasks")

# ---- claim -------------------------------------------------------------------------------

def _claim_candidates(by_engine: bool) -> Select:
    query = select(T.id).where(_IS_QUEUED, T.expires_at > _p("p_now"))
    if by_engine:
        query = query.where(T.engine.in_(bindparam("p_engines", expanding=True)))
    return (query.order_by(T.tier_rank, T.priority, T.created_at, T.id)
            .limit(_p("p_limit")))


_CLAIM_SET = {
    "status": RUNNING,
    "attempt": T.attempt + 1,
    "lease_token": _p("p_token"),
    "lease_expires_at": _p("p_lease_until"),
    "worker_id": _p("p_worker"),
    "started_at": _p("p_now"),          # the start of the current attempt
    "updated_at": _p("p_now"),
    "progress": 0.0,
    "step": 0,
    "total_steps": 0,
    "error_code": null(),
    "error_message": null(),
}


def _claim_postgresql(by_engine: bool) -> Update:
    chosen = (_claim_candidates(by_engine).with_for_update(skip_locked=True)
              .cte("c").prefix_with("MATERIALIZED"))
    return update(tasks).where(T.id == chosen.c.id).values(_CLAIM_SET).returning(*tasks.c)


def _claim_sqlite(by_engine: bool) -> Update:
    # SQLite's planner, with no statistics, prefers ix_tasks_expires (two constrained columns)
    # and sorts every queued task on each claim; INDEXED BY holds it to the queue's index
    engines = " AND engine IN :p_engines" if by_engine else ""
    candidates = text(
        "SELECT id FROM tasks INDEXED BY ix_tasks_queued "
        f"WHERE status = '{QUEUED}' AND expires_at > :p_now{engines} "
        "ORDER BY tier_rank, priority, created_at, id LIMIT :p_limit")
    if by_engine:
        candidates = candidates.bindparams(bindparam("p_engines", expanding=True))
    return (update(tasks).where(T.id.in_(candidates.columns(T.id))).values(_CLAIM_SET)
            .returning(*tasks.c))


# CLAIM_NEXT[dialect] filters by ``p_engines``; CLAIM_NEXT_ANY_ENGINE[dialect] does not.
CLAIM_NEXT: dict[str, Update] = {"postgresql": _claim_postgresql(True),
                                 "sqlite": _claim_sqlite(True)}
CLAIM_NEXT_ANY_ENGINE: dict[str, Update] = {"postgresql": _claim_postgresql(False),
                                            "sqlite": _claim_sqlite(False)}

# ---- worker writes (fenced) --------------------------------------------------------------

HEARTBEAT = (update(tasks).where(_fenced())
             .values(lease_expires_at=_p("p_lease_until"), updated_at=_p("p_now"))
             .returning(T.cancel_requested, T.cancel_reason))

PROGRESS = (update(tasks).where(_fenced())
            .values(lease_expires_at=_p("p_lease_until"), updated_at=_p("p_now"),
                    progress=_p("p_progress"), step=_p("p_step"), total_steps=_p("p_total"))
            .returning(T.cancel_requested, T.cancel_reason))

# files of a running attempt, as each is stored (an image set's images, streamed to its client)
PUBLISH = (update(tasks).where(_fenced())
           .values(lease_expires_at=_p("p_lease_until"), updated_at=_p("p_now"),
                   outputs=_p("p_outputs", JSONType))
           .returning(T.cancel_requested, T.cancel_reason))

FINISH = (update(tasks).where(_fenced())
          .values(status=SUCCEEDED, outputs=_p("p_outputs", JSONType), seed=_p("p_seed"),
                  usage_tokens=_p("p_usage_tokens"), engine_seconds=_p("p_engine_seconds"),
                  engine_info=_p("p_engine_info", JSONType),
                  progress=1.0, step=T.total_steps, **_ENDED)
          .returning(*tasks.c))

# FINISH for a task without a callback: nothing to add to the outbox, so it is one
# statement, committed on its own (no BEGIN/COMMIT round trips)
FINISH_UNHOOKED = FINISH.where(T.callback_url.is_(None))

FAIL = (update(tasks).where(_fenced())
        .values(status=FAILED, error_code=_p("p_code"), error_message=_p("p_message"), **_ENDED)
        .returning(*tasks.c))

# a re-run: only within the budget, and never for a task whose kill was requested
REQUEUE = (update(tasks)
           .where(_fenced(), T.reruns < _p("p_max_reruns"), not_(T.cancel_requested))
           .values(reruns=T.reruns + 1, **_BACK_TO_QUEUE)
           .returning(*tasks.c))

# a graceful hand-back (worker shutdown): not the task's fault, so no re-run is counted
RELEASE = (update(tasks).where(_fenced(), not_(T.cancel_requested))
           .values(**_BACK_TO_QUEUE)
           .returning(*tasks.c))

STOP = (update(tasks).where(_fenced())
        .values(status=_STOPPED_STATUS, **_ENDED)
        .returning(*tasks.c))

# ---- client transitions (owner-scoped) ---------------------------------------------------

CANCEL_QUEUED = (update(tasks).where(_owned(QUEUED))
                 .values(status=CANCELLED, cancel_reason="cancel", finished_at=_p("p_now"),
                         updated_at=_p("p_now"))
                 .returning(*tasks.c))

# the first kill request's reason wins (a task already being killed for expiry stays so)
REQUEST_CANCEL = (update(tasks).where(_owned(RUNNING))
                  .values(cancel_requested=true(),
                          cancel_reason=func.coalesce(T.cancel_reason, "cancel"),
                          updated_at=_p("p_now"))
                  .returning(*tasks.c))

DELETE_TERMINAL: Delete = (delete(tasks)
                           .where(T.id == _p("p_id"), T.owner_id == _p("p_owner"),
                                  T.status.in_(TERMINAL_VALUES))
                           .returning(*tasks.c))

# ---- retention: finished tasks past the retention time, in batches ----------------------

_PURGEABLE = and_(T.status.in_(TERMINAL_VALUES), T.finished_at < _p("p_before"))

FINISHED_BEFORE: Select = (select(T.id).where(_PURGEABLE)
                           .order_by(T.finished_at).limit(_p("p_limit")))

_PURGE_IDS = bindparam("p_ids", expanding=True)
PURGE_TASKS: Delete = delete(tasks).where(T.id.in_(_PURGE_IDS), _PURGEABLE).returning(T.id)
PURGE_TASK_ROWS: tuple[Delete, ...] = (
    delete(webhook_deliveries).where(W.task_id.in_(_PURGE_IDS)),
    delete(webhook_attempts).where(webhook_attempts.c.task_id.in_(_PURGE_IDS)),
    delete(task_extras).where(E.task_id.in_(_PURGE_IDS)),
)

# ---- maintenance (reaper, expiry): safe to run from every worker at once -----------------

# what a bulk transition to a terminal status returns: enough for the webhook outbox row
_FINAL = (T.id, T.owner_id, T.status, T.callback_url)

# a lapsed task whose kill was requested ends cancelled/expired: it is never re-run
REAP_LAPSED_CANCELLED = (update(tasks).where(_lapsed(), T.cancel_requested)
                         .values(status=_STOPPED_STATUS, **_ENDED)
                         .returning(*_FINAL))

REAP_LAPSED = (update(tasks)
               .where(_lapsed(), not_(T.cancel_requested), T.reruns < _p("p_max_reruns"))
               .values(reruns=T.reruns + 1, worker_id=null(), **_BACK_TO_QUEUE)
               .returning(T.id))

REAP_LAPSED_FAILED = (update(tasks)
                      .where(_lapsed(), not_(T.cancel_requested),
                             T.reruns >= _p("p_max_reruns"))
                      .values(status=FAILED, error_code="WorkerLost",
                              error_message=_p("p_message"), **_ENDED)
                      .returning(*_FINAL))

EXPIRE_QUEUED = (update(tasks).where(T.status == QUEUED, T.expires_at <= _p("p_now"))
                 .values(status=EXPIRED, cancel_reason="expired", finished_at=_p("p_now"),
                         updated_at=_p("p_now"))
                 .returning(*_FINAL))

EXPIRE_RUNNING = (update(tasks)
                  .where(T.status == RUNNING, T.expires_at <= _p("p_now"),
                         not_(T.cancel_requested))
                  .values(cancel_requested=true(), cancel_reason="expired",
                          updated_at=_p("p_now"))
                  .returning(T.id))

# ---- webhook outbox ----------------------------------------------------------------------
# A delivery is ``pending`` until a deliverer claims it (``delivering``, with a lease token
# that fences every later write, like a task's); an attempt ends it ``delivered``,
# ``disabled`` (410), ``failed`` (attempts exhausted) or ``pending`` again (a retry).

WEBHOOK_PENDING = "pending"
WEBHOOK_DELIVERING = "delivering"
WEBHOOK_DELIVERED = "delivered"
WEBHOOK_FAILED = "failed"
WEBHOOK_DISABLED = "disabled"

INSERT_DELIVERY = insert(webhook_deliveries)


def _due_deliveries() -> Select:
    """Due rows: pending and due, or delivering under a lease that lapsed (a dead deliverer)."""
    return (select(W.id)
            .where(or_(and_(W.status == WEBHOOK_PENDING, W.next_attempt_at <= _p("p_now")),
                       and_(W.status == WEBHOOK_DELIVERING,
                            W.lease_expires_at < _p("p_now"))))
            .order_by(W.next_attempt_at, W.id).limit(_p("p_limit")))


_CLAIM_DELIVERY_SET = {"status": WEBHOOK_DELIVERING, "lease_token": _p("p_token"),
                       "lease_expires_at": _p("p_lease_until"), "updated_at": _p("p_now")}

CLAIM_DELIVERIES: dict[str, Update] = {
    "postgresql": (update(webhook_deliveries)
                   .where(W.id == _due_deliveries().with_for_update(skip_locked=True)
                          .cte("c").prefix_with("MATERIALIZED").c.id)
                   .values(_CLAIM_DELIVERY_SET).returning(*webhook_deliveries.c)),
    "sqlite": (update(webhook_deliveries).where(W.id.in_(_due_deliveries()))
               .values(_CLAIM_DELIVERY_SET).returning(*webhook_deliveries.c)),
}


def _delivery_fenced() -> ColumnElement[bool]:
    return and_(W.id == _p("p_id"), W.lease_token == _p("p_token"),
                W.status == WEBHOOK_DELIVERING)


SET_DELIVERY_PAYLOAD = (update(webhook_deliveries).where(_delivery_fenced())
                        .values(payload=_p("p_payload")).returning(W.id))

# one attempt's end: the row's new status, and the attempt counted
COMPLETE_DELIVERY = (update(webhook_deliveries).where(_delivery_fenced())
                     .values(status=_p("p_status"), attempts=W.attempts + 1,
                             next_attempt_at=_p("p_next"), lease_token=null(),
                             lease_expires_at=null(), last_status_code=_p("p_code"),
                             last_error=_p("p_error"), delivered_at=_p("p_delivered_at"),
                             updated_at=_p("p_now"))
                     .returning(W.attempts, W.series))

# a deliverer that stops hands its claimed rows back without counting an attempt
RELEASE_DELIVERY = (update(webhook_deliveries).where(_delivery_fenced())
                    .values(status=WEBHOOK_PENDING, lease_token=null(), lease_expires_at=null(),
                            next_attempt_at=_p("p_now"), updated_at=_p("p_now")))

INSERT_ATTEMPT = insert(webhook_attempts)

# deliveries not yet done (pending or being attempted): the operator's backlog gauge
WEBHOOK_BACKLOG = (select(func.count()).select_from(webhook_deliveries)
                   .where(W.status.in_([WEBHOOK_PENDING, WEBHOOK_DELIVERING])))

DELIVERIES_OF_TASK = (select(webhook_deliveries).where(W.task_id == _p("p_task"))
                      .order_by(W.created_at, W.id))

ATTEMPTS_OF_TASK = (select(webhook_attempts)
                    .where(webhook_attempts.c.task_id == _p("p_task"))
                    .order_by(webhook_attempts.c.id))

# a new attempt series (same msg_id); the body is rendered afresh (new signed file URLs)
REPLAY_DELIVERIES = (update(webhook_deliveries)
                     .where(W.task_id == _p("p_task"), W.owner_id == _p("p_owner"),
                            W.status != WEBHOOK_DELIVERING)
                     .values(status=WEBHOOK_PENDING, attempts=0, series=W.series + 1,
                             next_attempt_at=_p("p_now"), payload=null(),
                             last_status_code=null(), last_error=null(), delivered_at=null(),
                             updated_at=_p("p_now"))
                     .returning(W.id))

# ---- per-task dialect data, signature keys and nonces -------------------------------------

INSERT_TASK_EXTRAS = insert(task_extras)
TASK_EXTRAS = select(task_extras).where(E.task_id == _p("p_id"))
TASK_EXTRAS_BY_TOKEN = select(task_extras).where(E.access_token == _p("p_token"))
UPDATE_TASK_EXTRAS = (update(task_extras).where(E.task_id == _p("p_id"))
                      .values(data=_p("p_data", JSONType)))

KEY_WIRO_AUTH = (select(K.wiro_secret, K.wiro_signature_required)
                 .where(K.id == _p("p_id"), K.revoked_at.is_(None)))
SET_KEY_WIRO_AUTH = (update(api_keys).where(K.id == _p("p_id"))
                     .values(wiro_secret=_p("p_secret"),
                             wiro_signature_required=_p("p_required")))
KEY_SIGNING_SECRET = select(K.signing_secret).where(K.id == _p("p_id"))
ACTIVE_KEY_SIGNING_SECRET = KEY_SIGNING_SECRET.where(K.revoked_at.is_(None))

# ---- API keys ---------------------------------------------------------------------------

INSERT_KEY = insert(api_keys)
# the active key with this SHA-256 hex digest (compared again in constant time by the caller)
ACTIVE_KEY_BY_HASH = select(K.id, K.key_hash).where(K.key_hash == _p("p_hash"),
                                                    K.revoked_at.is_(None))
LIST_KEYS = (select(K.id, K.name, K.prefix, K.created_at, K.revoked_at, K.signing_secret,
                    K.wiro_signature_required, K.rate_limit).order_by(K.created_at, K.id))
KEY_RATE_LIMIT = select(K.rate_limit).where(K.id == _p("p_id"), K.revoked_at.is_(None))
SET_KEY_RATE_LIMIT = update(api_keys).where(K.id == _p("p_id")).values(rate_limit=_p("p_rate"))
# the active keys whose id, display prefix or name is ``p_ref`` (a revoke tries them in order)
ACTIVE_KEYS_BY = {column.name: select(K.id).where(column == _p("p_ref"), K.revoked_at.is_(None))
                  for column in (K.id, K.prefix, K.name)}
REVOKE_KEY = update(api_keys).where(K.id == _p("p_id")).values(revoked_at=_p("p_now"))
COUNT_ACTIVE_KEYS = select(func.count()).select_from(api_keys).where(K.revoked_at.is_(None))

INSERT_NONCE = insert(request_nonces)
