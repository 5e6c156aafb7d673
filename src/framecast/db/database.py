"""Opening the database: engine, connection settings, and the schema migration at start.

``open_database(url)`` returns a SQLAlchemy ``Engine`` whose schema is at the newest Alembic
revision. It is safe when several processes start at once: the upgrade runs inside one write
transaction that is serialized across processes (``BEGIN IMMEDIATE`` on SQLite, a
transaction-scoped advisory lock on PostgreSQL), so the second process finds the schema
current and does nothing.

SQLite (the embedded default) gets WAL, ``synchronous=NORMAL``, a busy timeout, foreign keys,
and write transactions opened with ``BEGIN IMMEDIATE`` (a deferred transaction that reads and
then writes can fail with SQLITE_BUSY under WAL even with a busy timeout). Reads opt into a
deferred ``BEGIN`` through ``read_only(engine)`` so they never take the write lock, and
single-statement work runs without BEGIN/COMMIT through ``autocommit(engine)``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, Engine, create_engine, event, exc, make_url, pool, text

log = logging.getLogger("framecast.db")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 5000
MIGRATION_LOCK_KEY = 0x46524D43  # "FRMC": the advisory lock serializing PostgreSQL upgrades
_BEGIN_OPTION = "framecast_sqlite_begin"   # "IMMEDIATE" (default) | "DEFERRED" | "NONE"

# One lock per SQLite database file: writers of one process take turns here instead of
# sleeping in SQLite's busy handler, which polls with growing sleeps and hurts tail latency.
_SQLITE_WRITE_LOCKS: dict[str, threading.Lock] = {}
_SQLITE_WRITE_LOCKS_GUARD = threading.Lock()


# Connections kept open. The API runs store calls in anyio's worker threads (40 by default):
# a pool smaller than that closes and reopens connections (and re-runs the PRAGMAs) under
# load. PostgreSQL connections cost the server more, so fewer are kept.
SQLITE_POOL_SIZE = 40
PG_POOL_SIZE = 20

# A pooled PostgreSQL connection idle for longer than this is pinged (``SELECT 1``) before
# use, and replaced when the ping fails (the server restarted, a proxy dropped it). One used
# more recently is handed out as is: under load every checkout would otherwise cost a round
# trip, and a connection that died in that last second fails one statement, after which
# SQLAlchemy recycles every connection older than the failure.
PING_IDLE_S = 1.0
_USED_AT = "framecast_used_at"


def open_database(url: str, *, migrate: bool = True, pool_size: int | None = None) -> Engine:
    """Create the engine for ``url`` and bring its schema to the newest revision.

    ``url`` is a SQLAlchemy URL: ``sqlite:///path/to/framecast.db`` (parent directories are
    created) or ``postgresql+psycopg://user@host/db``.
    """
    engine = create_database_engine(url, pool_size=pool_size)
    if migrate:
        upgrade_schema(engine)
    return engine


def create_database_engine(url: str, *, pool_size: int | None = None) -> Engine:
    """The engine for ``url`` with Framecast's pool and connection settings (no migration)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, pool_size=pool_size)
    if parsed.get_backend_name() == "postgresql":
        size = pool_size or PG_POOL_SIZE
        engine = create_engine(url, poolclass=pool.QueuePool, pool_size=size,
                               max_overflow=size, pool_recycle=1800)
        ping_when_idle(engine)
        return engine
    return create_engine(url)


def ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it sat idle for ``PING_IDLE_S`` or
    more (SQLAlchemy's ``pool_pre_ping`` pings on every checkout); a failed ping makes the
    pool replace the connection."""
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info[_USED_AT] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _used(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_USED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        used_at = record.info.get(_USED_AT)
        if used_at is not None and time.monotonic() - used_at < PING_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:   # the pool retries on a new connection
            raise exc.DisconnectionError(f"ping failed: {error}") from error


def _in_memory(parsed: URL) -> bool:
    database = parsed.database or ""
    return database in ("", ":memory:") or "mode=memory" in str(parsed.query)


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL that names it by path; None for an in-memory
    database, a ``file:`` URI, or another database."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or _in_memory(parsed) \
            or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def _sqlite_engine(url: str, *, pool_size: int | None) -> Engine:
    parsed = make_url(url)
    in_memory = _in_memory(parsed)
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False,
                         "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    }
    if in_memory:
        # one shared connection: only fit for single-threaded use (unit tests)
        kwargs["poolclass"] = pool.StaticPool
    else:
        if (path := sqlite_file(parsed)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        size = pool_size or SQLITE_POOL_SIZE
        kwargs.update(poolclass=pool.QueuePool, pool_size=size, max_overflow=size)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own BEGIN handling is off; the "begin" listener below emits BEGIN itself
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if not in_memory:
            _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        if mode != "NONE":   # NONE: autocommit, each statement is its own transaction
            conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine


def _enable_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode = WAL``. Switching a new file to WAL takes an exclusive lock,
    and when another process holds one (two processes opening a new database together)
    SQLite answers "database is locked" at once, without its busy handler: retry for up to
    the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def read_only(engine: Engine) -> Engine:
    """A view of ``engine`` (same pool) for transactions that only read: on SQLite they begin
    deferred, so concurrent reads never wait for the write lock. A no-op elsewhere."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})


def autocommit(engine: Engine) -> Engine:
    """A view of ``engine`` (same pool) where every statement commits on its own: for work
    that is one statement, it saves the BEGIN and COMMIT round trips. On SQLite a writing
    statement still takes the write lock when it starts (as ``BEGIN IMMEDIATE`` would)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_BEGIN_OPTION: "NONE"})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def write_lock(engine: Engine) -> AbstractContextManager[Any]:
    """The in-process lock writers of ``engine`` take before ``BEGIN IMMEDIATE`` (SQLite), or
    a no-op (PostgreSQL locks rows, not the database)."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    key = str(engine.url)
    with _SQLITE_WRITE_LOCKS_GUARD:
        return _SQLITE_WRITE_LOCKS.setdefault(key, threading.Lock())


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` built in code, pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_schema(engine: Engine) -> None:
    """Run ``alembic upgrade head`` inside one serialized write transaction (idempotent)."""
    with write_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        command.upgrade(alembic_config(conn), "head")
    log.debug("schema is at head (%s)", engine.url.render_as_string(hide_password=True))
