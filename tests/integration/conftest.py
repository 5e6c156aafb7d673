"""Integration fixtures: real databases (a SQLite file, and PostgreSQL when
``FRAMECAST_TEST_POSTGRES_URL`` is set), a controllable clock, and queues on top.

``db_url`` is parametrized over both backends, so a test that uses it runs twice. Each
PostgreSQL test gets a fresh schema (``search_path`` set through the URL) that is dropped
afterwards, so runs are isolated from each other and from anything else in the database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from framecast.db.database import open_database
from framecast.db.queue import TaskQueue


class FakeClock:
    """A clock that only moves when told (unix seconds, starting near the real time)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(start if start is not None else int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for deterministic lease and expiry tests."""
    return FakeClock()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file in a fresh directory (the directory itself does not exist yet)."""
    return f"sqlite:///{tmp_path / 'db' / 'framecast.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(name)


@pytest.fixture
def queue(db_url: str, clock: FakeClock) -> Iterator[TaskQueue]:
    """A migrated database and a queue on the fake clock (lease 45 s, 2 re-runs)."""
    engine = open_database(db_url)
    q = TaskQueue(engine, lease_s=45.0, max_reruns=2, clock=clock)
    try:
        yield q
    finally:
        q.close()
        engine.dispose()
