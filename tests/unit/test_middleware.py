"""App-level guards: the request body cap answers 413 in the dialect's own envelope, and the
client's request id is echoed: through the app alone, and through the front door of its lean
routes (``serving_app``, what ``framecast serve`` runs). Large bodies are admitted a few at a
time, each within its deadline (``LargeBodyAdmission``, as ASGI)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from framecast.api.app import create_app, serving_app
from framecast.api.middleware import BodyTooSlow, LargeBodyAdmission
from framecast.api.settings import Settings

KEY = "fc-test-static-key"
CAP = 4096


@pytest.fixture(params=["app", "front door"])
def client(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, api_key=KEY, max_body_bytes=CAP, run_worker=False)
    app = create_app(settings)
    with TestClient(app if request.param == "app" else serving_app(app, settings)) as test_client:
        yield test_client


def big_body() -> dict:
    return {"model": "seedance-1-0-pro", "content": [{"type": "text", "text": "x" * (CAP * 2)}]}


def test_declared_oversize_body_is_413_in_ark_envelope(client: TestClient) -> None:
    r = client.post("/api/v3/contents/generations/tasks", json=big_body(),
                    headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 413
    assert r.json()["error"]["param"] == "body"
    assert r.json()["error"]["code"] == "RequestEntityTooLarge"


def test_chunked_oversize_body_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b"{" + b" " * CAP

    r = client.post("/api/v3/contents/generations/tasks", content=chunks(),
                    headers={"Authorization": f"Bearer {KEY}",
                             "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["param"] == "body"


def test_openai_paths_answer_in_their_own_envelope(client: TestClient) -> None:
    r = client.post("/v1/images/generations", json={"prompt": "x" * (CAP * 2)},
                    headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 413
    assert set(r.json()["error"]) >= {"message", "type", "param", "code"}


def test_small_bodies_pass_and_request_id_is_echoed(client: TestClient) -> None:
    r = client.get("/api/v3/contents/generations/tasks/cgt-nope",
                   headers={"Authorization": f"Bearer {KEY}", "X-Client-Request-Id": "abc123"})
    assert r.status_code == 404
    assert r.headers["x-client-request-id"] == "abc123"
    assert client.get("/healthz").json() == {"status": "ok"}


def test_lean_routes_keep_their_envelope_and_headers(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {KEY}", "X-Client-Request-Id": "r-9"}
    created = client.post("/api/v3/contents/generations/tasks", headers=auth, json={
        "model": "seedance-1-0-pro", "content": [{"type": "text", "text": "a cat --frames 29"}]})
    assert created.status_code == 200, created.text
    assert created.headers["x-client-request-id"] == "r-9"
    assert created.headers["x-framecast-engine"] == "motion"
    got = client.get(f"/api/v3/contents/generations/tasks/{created.json()['id']}", headers=auth)
    assert got.status_code == 200 and got.json()["status"] == "queued"
    assert got.headers["x-client-request-id"] == "r-9"
    unauthorized = client.get("/api/v3/contents/generations/tasks/x", headers={
        "Authorization": "Bearer wrong"})
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "AuthenticationError"
    not_json = client.post("/api/v3/contents/generations/tasks", content=b"{",
                           headers={**auth, "Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"]["param"] == "body"
    # a path next to a lean one, and another method on a lean path, still reach the app
    assert client.get("/api/v3/contents/generations/tasks", headers=auth).json()["total"] == 1
    assert client.put("/api/v3/contents/generations/tasks", headers=auth).status_code == 405


# -- LargeBodyAdmission: large bodies a few at a time, each within its deadline -----------


def http_scope(length: int) -> dict:
    return {"type": "http", "method": "POST", "path": "/x",
            "headers": [(b"content-length", str(length).encode())]}


class Reader:
    """An ASGI app that reads its whole body and records how many run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.errors: list[BaseException] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            while True:
                message = await receive()
                if not message.get("more_body"):
                    break
        except BodyTooSlow as exc:
            self.errors.append(exc)
        finally:
            self.running -= 1


def body_in(chunks: int, pause_s: float) -> Any:
    """A ``receive`` that sends ``chunks`` parts of a body, ``pause_s`` apart."""
    sent = 0

    async def receive() -> dict:
        nonlocal sent
        await asyncio.sleep(pause_s)
        sent += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": sent < chunks}
    return receive


async def no_send(message: dict) -> None:
    pass


def test_large_bodies_are_handled_a_few_at_a_time_and_small_ones_never_wait() -> None:
    reader = Reader()
    admission = LargeBodyAdmission(reader, max_concurrent=2, threshold_bytes=1000)

    async def main() -> float:
        large = [admission(http_scope(5 * 1024), body_in(5, 0.02), no_send) for _ in range(6)]
        started = asyncio.get_running_loop().time()
        waited = asyncio.gather(*large)
        await asyncio.sleep(0.01)
        small_started = asyncio.get_running_loop().time()
        await admission(http_scope(100), body_in(1, 0.0), no_send)   # under the threshold
        small_took = asyncio.get_running_loop().time() - small_started
        await waited
        assert asyncio.get_running_loop().time() - started >= 3 * 5 * 0.02   # three turns
        return small_took

    small_took = asyncio.run(main())
    assert reader.most == 3            # two large bodies at once, and the small one beside them
    assert small_took < 0.05
    assert reader.errors == []


def test_a_body_that_does_not_arrive_in_time_is_refused_and_frees_its_turn() -> None:
    reader = Reader()
    admission = LargeBodyAdmission(reader, max_concurrent=1, threshold_bytes=1000,
                                   deadline_s=0.2)

    async def main() -> float:
        stalled = admission(http_scope(10 * 1024), body_in(10, 1.0), no_send)   # 10 s to send
        started = asyncio.get_running_loop().time()
        await asyncio.gather(stalled, admission(http_scope(2048), body_in(2, 0.01), no_send))
        return asyncio.get_running_loop().time() - started

    took = asyncio.run(main())
    assert [type(e) for e in reader.errors] == [BodyTooSlow]   # the stalled one, only
    assert reader.errors[0].status == 408 and reader.errors[0].param == "body"
    assert took < 1.0                  # the next body had its turn after 0.2 s, not 10


def test_after_the_body_waiting_for_a_disconnect_has_no_deadline() -> None:
    waited: list[dict] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await receive()                    # the whole body, in one part
        waited.append(await receive())     # then wait for the client to go, past the deadline

    admission = LargeBodyAdmission(app, max_concurrent=1, threshold_bytes=10, deadline_s=0.05)
    parts = iter([{"type": "http.request", "body": b"x" * 100, "more_body": False},
                  {"type": "http.disconnect"}])

    async def receive() -> dict:
        message = next(parts)
        if message["type"] == "http.disconnect":
            await asyncio.sleep(0.2)
        return message

    asyncio.run(admission(http_scope(100), receive, no_send))
    assert waited == [{"type": "http.disconnect"}]


def test_a_body_of_exactly_the_cap_passes_and_one_byte_more_is_413(client: TestClient) -> None:
    def body(size: int) -> bytes:
        head = b'{"model": "seedance-1-0-pro", "content": [{"type": "text", "text": "'
        tail = b' --frames 29"}]}'
        return head + b"x" * (size - len(head) - len(tail)) + tail

    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    at_cap = client.post("/api/v3/contents/generations/tasks", content=body(CAP), headers=auth)
    assert len(body(CAP)) == CAP and at_cap.status_code == 200, at_cap.text
    past = client.post("/api/v3/contents/generations/tasks", content=body(CAP + 1),
                       headers=auth)
    assert past.status_code == 413 and past.json()["error"]["param"] == "body"
