"""Per-key rate limits, counted across two API processes in Redis, on SQLite and PostgreSQL:
a key over its own rate gets 429 with ``Retry-After`` in each dialect's envelope (the five
vendor dialects, the native API and MCP); another key goes on unaffected.

Needs a Redis server (``FRAMECAST_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/15``);
skipped, saying so, where there is none, unless ``FRAMECAST_REQUIRE_REDIS=1`` (as in CI).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.acceptance.support.server import Server, assert_clean_log, start_server, stop_server

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("FRAMECAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RATE = "3/minute"            # a key's own: the 4th request within a minute is refused

Call = Callable[[httpx.Client], httpx.Response]
# dialect → (a cheap request with the key, how its 429 names itself)
CALLS: dict[str, tuple[Call, Callable[[httpx.Response], bool]]] = {
    "ark": (lambda h: h.get("/api/v3/contents/generations/tasks"),
            lambda r: r.json()["error"]["code"] == "RateLimitExceeded"),
    "aiml": (lambda h: h.get("/v2/video/generations", params={"generation_id": "cgt-none"}),
             lambda r: r.json()["statusCode"] == "429"),
    "openai": (lambda h: h.get("/v1/videos"),
               lambda r: r.json()["error"]["type"] == "rate_limit_error"),
    "acedata": (lambda h: h.post("/seedance/tasks", json={"id": "cgt-none",
                                                          "action": "retrieve"}),
                lambda r: r.json()["error"]["code"] == "too_many_requests"),
    "wiro": (lambda h: h.post("/v1/Task/List", json={}),
             lambda r: r.json()["result"] is False and r.json()["errors"][0]["code"] == 96),
    "native": (lambda h: h.get("/framecast/v1/tasks"),
               lambda r: r.json()["error"]["code"] == "RateLimitExceeded"),
    # MCP over streamable HTTP: the JSON-RPC handshake an agent opens with
    "mcp": (lambda h: h.post("/mcp", json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "rate-test", "version": "1"}}},
                headers={"Accept": "application/json, text/event-stream"}),
            lambda r: r.json()["error"]["code"] == "RateLimitExceeded"),
}


def redis_reachable() -> bool:
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The server's database: its SQLite default, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    base = os.environ.get("FRAMECAST_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("PostgreSQL variant: set FRAMECAST_TEST_POSTGRES_URL to run it")
    from sqlalchemy import create_engine, make_url, text

    schema = f"fc_rate_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(base).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def server(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Server, list[str]]]:
    """Two API processes counting in Redis; the ``framecast keys`` arguments of its data."""
    if not redis_reachable():
        if os.environ.get("FRAMECAST_REQUIRE_REDIS") == "1":
            pytest.fail(f"no Redis at {REDIS_URL} (FRAMECAST_REQUIRE_REDIS=1)")
        pytest.skip(f"no Redis at {REDIS_URL}: set FRAMECAST_TEST_REDIS_URL to run this")
    data = tmp_path / "data"
    db_args = ["--database-url", database_url] if database_url else []
    running = start_server(data, slots=1, extra_args=["--api-processes", "2", *db_args],
                           extra_env={"FRAMECAST_RATE_LIMIT_STORAGE": REDIS_URL})
    try:
        yield running, ["--data-dir", str(data), *db_args]
    finally:
        stop_server(running)
        assert_clean_log(running)


def framecast_keys(*args: str) -> str:
    """``framecast keys ...``; what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMECAST_")}
    done = subprocess.run([sys.executable, "-m", "framecast", "keys", *args], env=env,
                          check=True, capture_output=True, text=True, timeout=120)
    return done.stdout


def new_key(args: list[str], *extra: str) -> str:
    """A new key, ``framecast keys create`` (the key is the last line it prints)."""
    printed = framecast_keys("create", "--name", secrets.token_hex(4), *extra, *args)
    return printed.strip().splitlines()[-1].strip()


def client(server: Server, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.root, timeout=30.0,
                        headers={"Authorization": f"Bearer {key}", "x-api-key": key})


def test_a_key_over_its_rate_is_refused_in_every_envelope_and_others_go_on(
        server: tuple[Server, list[str]]) -> None:
    running, args = server
    unlimited = new_key(args)
    for dialect, (call, is_rate_limit) in CALLS.items():
        key = new_key(args, "--rate", RATE)
        with client(running, key) as http:
            answers = [call(http) for _ in range(3)]
            assert all(a.status_code != 429 for a in answers), (dialect, answers[-1].text)
            refused = call(http)
        assert refused.status_code == 429, (dialect, refused.text)
        assert is_rate_limit(refused), (dialect, refused.text)
        assert 1 <= int(refused.headers["retry-after"]) <= 60, dialect
        with client(running, unlimited) as http:
            assert all(call(http).status_code != 429 for _ in range(5)), dialect


def test_a_rate_set_later_applies_within_seconds(server: tuple[Server, list[str]]) -> None:
    import time

    running, args = server
    name = "later"
    printed = framecast_keys("create", "--name", name, *args)
    key = printed.strip().splitlines()[-1].strip()
    call, _ = CALLS["native"]
    with client(running, key) as http:
        assert all(call(http).status_code == 200 for _ in range(5))
        assert "1/hour" in framecast_keys("rate", name, "1/hour", *args)
        assert "1/hour" in framecast_keys("list", *args)
        deadline = time.monotonic() + 15
        statuses: list[Any] = []
        while time.monotonic() < deadline and 429 not in statuses:
            statuses.append(call(http).status_code)
            time.sleep(0.5)
    assert 429 in statuses
