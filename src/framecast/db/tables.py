"""SQLAlchemy Core tables: ``api_keys`` and ``tasks`` (revision 0001); the webhook outbox
``webhook_deliveries`` with its log ``webhook_attempts``, per-task dialect data
``task_extras`` and used signature nonces ``request_nonces`` (revision 0002); the partial
index ``ix_tasks_queued`` in place of ``ix_tasks_claim`` (revision 0003); the engine options
frozen into each task at create time (revision 0004); a rate limit per key (revision 0005).

Times are unix seconds as floats written from the queue's injectable clock (never the
database's ``now()``), so tests can back-date or advance time deterministically and SQLite
and PostgreSQL behave the same. The initial Alembic revision creates exactly these tables;
a change here needs a new revision under ``db/migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# JSONB on PostgreSQL (smaller, indexable); JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),          # first characters, for display
    Column("key_hash", String(64), nullable=False, unique=True),   # sha256 hex of the key
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double, nullable=True),
    Column("signing_secret", String(128), nullable=True),  # "whsec_...": signs webhooks
    # Wiro signature mode: the API secret (kept recoverable: a signature is checked by
    # recomputing it) and whether requests without x-nonce / x-signature are refused
    Column("wiro_secret", String(128), nullable=True),
    Column("wiro_signature_required", Boolean, nullable=False, server_default=false()),
    # requests per window (``10/second``, ``10/second;300/minute``); NULL: the server's default
    Column("rate_limit", String(200), nullable=True),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("model", String(256), nullable=False),
    Column("engine", String(256), nullable=False),
    # what the engine is built with, frozen at create time (NULL: queued before revision 0004)
    Column("engine_options", JSONType, nullable=True),
    Column("dialect", String(32), nullable=False, server_default="ark"),
    Column("status", String(16), nullable=False),
    Column("spec", JSONType, nullable=False),
    Column("service_tier", String(16), nullable=False, server_default="default"),
    Column("tier_rank", Integer, nullable=False, server_default=text("0")),  # 0 default, 1 flex
    Column("priority", Integer, nullable=False, server_default=text("0")),   # lower first
    Column("progress", Double, nullable=False, server_default=text("0")),
    Column("step", Integer, nullable=False, server_default=text("0")),
    Column("total_steps", Integer, nullable=False, server_default=text("0")),
    Column("attempt", Integer, nullable=False, server_default=text("0")),
    Column("reruns", Integer, nullable=False, server_default=text("0")),
    Column("lease_token", String(64), nullable=True),
    Column("lease_expires_at", Double, nullable=True),
    Column("worker_id", String(128), nullable=True),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("cancel_reason", String(16), nullable=True),     # "cancel" | "expired"
    Column("error_code", String(128), nullable=True),
    Column("error_message", String, nullable=True),
    Column("outputs", JSONType, nullable=False),            # list of OutputFile dicts
    Column("usage_tokens", BigInteger, nullable=False, server_default=text("0")),
    Column("seed", BigInteger, nullable=True),
    Column("callback_url", String, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("started_at", Double, nullable=True),
    Column("finished_at", Double, nullable=True),
    Column("expires_at", Double, nullable=False),
    Column("engine_seconds", Double, nullable=False, server_default=text("0")),
    Column("engine_info", JSONType, nullable=True),        # what the engine did (0007)
    # the queue itself, in claim order (default tier before flex, then priority, oldest
    # first, id): a claim reads its first entries and sorts nothing, however long the
    # backlog (revision 0003; SQLite's claim names it, PostgreSQL's planner picks it once
    # the reaper's ``refresh_statistics`` has run)
    Index("ix_tasks_queued", "tier_rank", "priority", "created_at", "id",
          sqlite_where=text("status = 'queued'"), postgresql_where=text("status = 'queued'")),
    # per-owner listing, newest first
    Index("ix_tasks_owner_created", "owner_id", "created_at"),
    # per-owner counts by status (the queued-task quota checked on every create)
    Index("ix_tasks_owner_status", "owner_id", "status"),
    # the reaper's scan of running tasks whose lease lapsed
    Index("ix_tasks_lease", "status", "lease_expires_at"),
    # the expiry sweep over queued and running tasks
    Index("ix_tasks_expires", "status", "expires_at"),
    # the retention purge of finished tasks (migration 0006)
    Index("ix_tasks_finished", "status", "finished_at"),
)

# The webhook outbox: one row per task and terminal event, written in the transaction that
# makes the task terminal. ``msg_id`` is the Standard Webhooks ``webhook-id`` (the same on
# every attempt and replay); ``payload`` is the rendered body, NULL until the first attempt.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("task_id", String(64), nullable=False),
    Column("owner_id", String(64), nullable=False),
    Column("url", String, nullable=False),
    Column("event", String(32), nullable=False),            # "task.succeeded" ...
    Column("msg_id", String(64), nullable=False, unique=True),
    Column("payload", Text, nullable=True),
    Column("status", String(16), nullable=False),   # pending|delivering|delivered|failed|disabled
    Column("attempts", Integer, nullable=False, server_default=text("0")),   # this series
    Column("series", Integer, nullable=False, server_default=text("1")),     # 1 + replays
    Column("next_attempt_at", Double, nullable=True),
    Column("lease_token", String(64), nullable=True),
    Column("lease_expires_at", Double, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("delivered_at", Double, nullable=True),
    UniqueConstraint("task_id", "event", name="uq_webhook_deliveries_task_event"),
    # the deliverers' scan for due rows (pending, or delivering with a lapsed lease)
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

# Every delivery attempt, for the operator and the per-task listing.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), nullable=False),
    Column("task_id", String(64), nullable=False),
    Column("series", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", Double, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),   # delivered|retry|disabled|failed
    Column("error", String, nullable=True),
    Column("response_excerpt", String, nullable=True),
    Index("ix_webhook_attempts_task", "task_id", "id"),
)

# What a dialect keeps about its own tasks: an access token clients may use instead of the
# id (Wiro's ``socketaccesstoken``) and the request as the client wrote it.
task_extras = Table(
    "task_extras",
    metadata,
    Column("task_id", String(64), primary_key=True),
    Column("dialect", String(32), nullable=False),
    Column("access_token", String(64), nullable=True, unique=True),
    Column("data", JSONType, nullable=False),
    Column("created_at", Double, nullable=False),
)

# Signature nonces already used, per key: a second use of one is a replay.
request_nonces = Table(
    "request_nonces",
    metadata,
    Column("key_id", String(64), nullable=False),
    Column("nonce", String(128), nullable=False),
    Column("created_at", Double, nullable=False),
    PrimaryKeyConstraint("key_id", "nonce", name="pk_request_nonces"),
)
