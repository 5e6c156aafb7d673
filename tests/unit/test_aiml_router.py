"""Unit tests of ``dialects/aiml/router.py`` over an in-memory service: create and poll on
both paths, errors in the vendor's envelope, the body cap."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from framecast.core.errors import (
    NotFound,
)
from framecast.core.spec import VideoSpec
from framecast.core.task import Task, TaskStatus
from framecast.service.registry import Registry
from tests.unit.support.aiml import IMG, LITE_I2V, PRO_15, PRO_I2V, file_url, make_task

# -- the router over an in-memory service ---------------------------------------------------


class FakeService:
    """Just enough of ``TaskService`` for the router."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.registry = Registry.load(None)
        self.specs: list[VideoSpec] = []

    async def create_video(self, spec: VideoSpec, *, owner_id: str, dialect: str) -> Task:
        task = make_task(TaskStatus.QUEUED, **spec.model_dump(mode="json"))
        task.id, task.owner_id, task.dialect = f"cgt-x-{len(self.tasks)}", owner_id, dialect
        self.tasks[task.id] = task
        self.specs.append(spec)
        return task

    def get(self, task_id: str, *, owner_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None or task.owner_id != owner_id:
            raise NotFound("no such task", param="id")
        return task

    def file_url(self, task: Task, name: str) -> str | None:
        return file_url(task, name)


@pytest.fixture
def client() -> Any:
    import warnings

    from fastapi import FastAPI

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from framecast.dialects.aiml.router import router
    from framecast.edge.auth import Authenticator

    app = FastAPI()
    app.include_router(router)
    app.state.service = FakeService()
    keys = SimpleNamespace(authenticate=lambda key: "other" if key == "k2" else None)
    app.state.authenticator = Authenticator(keys, "k1")
    with TestClient(app, headers={"Authorization": "Bearer k1"}) as test_client:
        test_client.service = app.state.service
        yield test_client


@pytest.mark.parametrize("path", ["/v2/video/generations",
                                  "/v2/generate/video/bytedance/generation"])
def test_router_create_and_poll_on_both_paths(client: Any, path: str) -> None:
    created = client.post(path, json={"model": PRO_I2V, "prompt": "p", "image_url": IMG,
                                      "duration": "5"})
    assert created.status_code == 200 and created.headers["x-framecast-engine"] == "motion"
    gen_id = created.json()["id"]
    assert created.json() == {"id": gen_id, "status": "queued", "generation_id": gen_id}
    assert client.service.tasks[gen_id].dialect == "aiml"
    polled = client.get(path, params={"generation_id": gen_id})
    assert polled.status_code == 200 and polled.json()["status"] == "queued"
    other = client.get(path, params={"generation_id": gen_id},
                       headers={"Authorization": "Bearer k2"})
    assert other.status_code == 404 and other.json()["statusCode"] == "404"


@pytest.mark.parametrize(("method", "kwargs", "status", "param"), [
    ("POST", {"content": b"{nope", "headers": {"Content-Type": "application/json"}}, 400,
     "body"),
    ("POST", {"content": b""}, 400, "body"),
    ("POST", {"json": [1]}, 400, "body"),
    ("POST", {"json": {"prompt": "p"}}, 400, "model"),
    ("POST", {"json": {"model": "bytedance/seedream-3.0", "prompt": "p"}}, 400, "model"),
    ("POST", {"json": {"model": "no/such-model", "prompt": "p"}}, 400, "model"),
    ("POST", {"json": {"model": PRO_I2V, "prompt": "p", "duration": 7}}, 400, "duration"),
    ("POST", {"json": {"model": LITE_I2V, "prompt": "p"}}, 400, "image_url"),
    ("POST", {"json": {"model": PRO_15, "prompt": "p", "resolution": "2k"}}, 400,
     "resolution"),
    ("POST", {"json": {"model": PRO_15, "prompt": "p", "aspect_ratio": "2:1"}}, 400,
     "aspect_ratio"),
    ("POST", {"json": {"model": PRO_I2V, "prompt": "p", "headers": 1,
                       "image_url": "nope"}}, 400, "image_url"),
    ("GET", {}, 400, "generation_id"),
    ("GET", {"params": {"generation_id": "cgt-none"}}, 404, "generation_id"),
    ("GET", {"params": {"generation_id": "x"}, "headers": {"Authorization": "Bearer no"}},
     401, None),
    ("DELETE", {}, 405, None),
])
def test_router_errors_use_the_vendor_envelope(client: Any, method: str,
                                               kwargs: dict[str, Any], status: int,
                                               param: str | None) -> None:
    response = client.request(method, "/v2/video/generations", **kwargs)
    assert response.status_code == status, response.text
    data = response.json()
    assert set(data) >= {"message", "path", "requestId", "statusCode", "timestamp"}
    assert data["statusCode"] == str(status) and data["path"] == "/v2/video/generations"
    assert data.get("param") == param
    if status == 400:
        assert data["message"].startswith(("Body validation error!", "Query validation error!"))
        assert param in data["message"]


def test_an_over_long_chunked_body_is_413_in_this_envelope() -> None:
    import warnings

    from fastapi import FastAPI

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from framecast.api.middleware import BodyLimitMiddleware
    from framecast.dialects.aiml.router import router
    from framecast.edge.auth import Authenticator

    app = FastAPI()
    app.add_middleware(BodyLimitMiddleware, max_bytes=100)
    app.include_router(router)
    app.state.service = FakeService()
    app.state.authenticator = Authenticator(SimpleNamespace(authenticate=lambda k: None), "k1")
    chunks = (b'{"prompt": "' + b"x" * 50 for _ in range(10))      # no Content-Length
    with TestClient(app, headers={"Authorization": "Bearer k1"}) as test_client:
        response = test_client.post("/v2/video/generations", content=chunks,
                                    headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["statusCode"] == "413" and response.json()["param"] == "body"
