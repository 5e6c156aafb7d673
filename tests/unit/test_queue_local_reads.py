"""Which databases the API reads from on its event loop (``TaskQueue.local_reads``): a SQLite
file and a PostgreSQL on this machine, never one across a network."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from framecast.db.queue import TaskQueue


@pytest.mark.parametrize(("url", "local"), [
    ("postgresql+psycopg://u@127.0.0.1:5432/t", True),
    ("postgresql+psycopg://u@localhost/t", True),
    ("postgresql+psycopg://u@[::1]/t", True),
    ("postgresql+psycopg:///t", True),                                   # unix socket
    ("postgresql+psycopg://u@/t?host=/var/run/postgresql", True),        # unix socket
    ("postgresql+psycopg://u@10.0.0.5/t", False),
    ("postgresql+psycopg://u@db.example.com:5432/t", False),
])
def test_postgresql_is_read_inline_only_on_this_machine(url: str, local: bool) -> None:
    queue = TaskQueue(create_engine(url))    # no connection is made
    try:
        assert queue.local_reads is local
    finally:
        queue.close()


def test_sqlite_is_read_inline(tmp_path: Path) -> None:
    queue = TaskQueue(create_engine(f"sqlite:///{tmp_path / 'f.db'}"))
    try:
        assert queue.local_reads is True
    finally:
        queue.close()
