"""App-level guards: the request body cap answers 413 in the dialect's own envelope, and the
client's request id is echoed: through the app alone, and through the front door of its lean
routes (``serving_app``, what ``framecast serve`` runs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from framecast.api.app import create_app, serving_app
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
