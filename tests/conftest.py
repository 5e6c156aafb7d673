"""Fixtures every test folder may use: a fresh PostgreSQL schema per test (when
``FRAMECAST_TEST_POSTGRES_URL`` is set), and a real S3 server (SeaweedFS), started once per
session on first use."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.s3server import S3Server, start_s3

POSTGRES_ENV = "FRAMECAST_TEST_POSTGRES_URL"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a fresh schema, dropped afterwards; the
    test is skipped when no PostgreSQL is configured."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL variant: set {POSTGRES_ENV} to run it")
    schema = f"fc_test_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a fresh schema, dropped afterwards."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS's S3 API on 127.0.0.1, for the whole session (each test takes a fresh
    prefix with ``new_url``)."""
    server = start_s3(Path(tmp_path_factory.mktemp("s3")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """``s3_server``, with its endpoint and credentials in this process's environment (as an
    operator sets ``AWS_*`` for Framecast)."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server
