"""Large bodies over HTTP: an upload that stalls is answered 408 in its dialect's own envelope
once its deadline passes, and meanwhile it holds only its own turn: polls go on, and the next
photo create gets the turn when the stalled ones give it up."""

from __future__ import annotations

import base64
import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.support.server import (
    API_KEY,
    Server,
    assert_clean_log,
    make_image,
    start_server,
    stop_server,
)
from tests.acceptance.support.ways import WAYS, Way

DEADLINE_S = 1.0
DECLARED = 2_000_000          # the stalled upload says it will send this much, and sends 16


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose large bodies (over 256 KiB, two at a time) have a second to arrive."""
    running = start_server(tmp_path_factory.mktemp("large-bodies"), slots=1,
                           extra_env={"FRAMECAST_LARGE_BODY_DEADLINE_S": str(DEADLINE_S)})
    yield running
    stop_server(running)
    assert_clean_log(running)


def headers(way: Way) -> dict[str, str]:
    return way.headers or {"Authorization": f"Bearer {API_KEY}"}


def stall(server: Server, way: Way) -> socket.socket:
    """Start a create that declares a large body and sends 16 bytes of it."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers(way).items())
    sock.sendall(f"POST {way.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                 f"Content-Type: application/json\r\nContent-Length: {DECLARED}\r\n\r\n"
                 '{"prompt": "a h'.encode())
    return sock


def answer(sock: socket.socket) -> httpx.Response:
    """The server's answer on ``sock``, as an httpx response (for the dialect's refusal)."""
    reply = http.client.HTTPResponse(sock)
    reply.begin()
    body = reply.read()
    sock.close()
    return httpx.Response(reply.status, headers=reply.getheaders(), content=body)


@pytest.mark.parametrize("dialect", list(WAYS))
def test_a_stalled_upload_is_408_in_the_dialects_envelope(server: Server, dialect: str) -> None:
    way = WAYS[dialect]
    started = time.monotonic()
    response = answer(stall(server, way))
    waited = time.monotonic() - started
    status, message = way.refusal(response)
    assert status == 408 or (dialect == "wiro" and status == 400), response.text
    assert "did not arrive within 1 s" in message, message
    assert DEADLINE_S <= waited < DEADLINE_S + 5


def test_stalled_uploads_hold_only_their_own_turn(server: Server, tmp_path: Path) -> None:
    way = WAYS["ark"]
    # a JPEG whose file runs on past its end (as some cameras' do), to be over 256 KiB
    photo = "data:image/jpeg;base64," + base64.b64encode(
        make_image(1600, 1200, 8, "JPEG") + b"\0" * 400_000).decode()
    stalled = [stall(server, way) for _ in range(2)]                      # both turns taken
    time.sleep(0.2)
    started = time.monotonic()
    with httpx.Client(base_url=server.root, headers=headers(way), timeout=30) as client:
        polled = client.get("/api/v3/contents/generations/tasks", params={"page_size": 1})
        polled_after = time.monotonic() - started
        created = client.post(way.path, json=way.body(photo))
        created_after = time.monotonic() - started
    assert polled.status_code == 200 and polled_after < 0.5    # a small request never waits
    assert created.status_code == 200, created.text
    assert created_after < DEADLINE_S + 5                      # its turn came when theirs ran out
    assert [answer(sock).status_code for sock in stalled] == [408, 408]
