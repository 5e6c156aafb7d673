"""Unit tests of ``dialects/openai/router.py`` over an in-memory service: the video
lifecycle, JSON creates, images, errors in the OpenAI envelope, the body cap."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from framecast.core.errors import (
    NotFound,
)
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.core.task import Task, TaskStatus
from framecast.dialects.openai import envelope, paging
from tests.unit.support.openai import IMG, REGISTRY, image_task, make_task, png_bytes

# -- the router over an in-memory service ---------------------------------------------------


class FakeService:
    """Just enough of ``TaskService`` for the OpenAI router."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.registry = REGISTRY
        self.limits = SimpleNamespace(image_wait_s=1.0, fetch=SimpleNamespace(max_bytes=1_000_000),
                                      max_body_bytes=2_000_000)
        self.image_status = TaskStatus.SUCCEEDED
        self.specs: list[Any] = []

    async def create_video(self, spec: VideoSpec, *, owner_id: str, dialect: str) -> Task:
        task = make_task(TaskStatus.QUEUED, **spec.model_dump(mode="json"))
        task.id = f"cgt-20250101000000-{len(self.tasks):08d}"
        task.owner_id, task.dialect, task.created_at = owner_id, dialect, len(self.tasks)
        self.tasks[task.id] = task
        self.specs.append(spec)
        return task

    async def generate_image(self, spec: ImageSpec, *, owner_id: str, dialect: str) -> Task:
        self.specs.append(spec)
        task = image_task(self.image_status)
        if self.image_status == TaskStatus.FAILED:
            task.error_code, task.error_message = "InternalServiceError", "engine died"
        return task

    def get(self, task_id: str, *, owner_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None or task.owner_id != owner_id:
            raise NotFound("no such task", param="id")
        return task

    def list(self, owner_id: str, *, kind: str, offset: int, limit: int) -> tuple[int, list]:
        tasks = sorted((t for t in self.tasks.values() if t.owner_id == owner_id),
                       key=paging.key, reverse=True)
        return len(tasks), tasks[offset:offset + limit]

    def cancel(self, task_id: str, *, owner_id: str) -> Task:
        task = self.get(task_id, owner_id=owner_id)
        task.status = TaskStatus.CANCELLED
        return task

    async def wait(self, task_id: str, *, owner_id: str, timeout_s: float) -> Task:
        return self.get(task_id, owner_id=owner_id)

    def delete(self, task_id: str, *, owner_id: str) -> Task:
        return self.tasks.pop(task_id)

    def file_url(self, task: Task, name: str) -> str | None:
        return f"http://files/{name}"

    def file_bytes(self, task: Task, name: str) -> bytes | None:
        return b"\x00\x00\x00\x18ftypmp42" if name == "video.mp4" else None


@pytest.fixture
def client() -> Any:
    import warnings

    from fastapi import FastAPI

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from framecast.dialects.openai.router import router
    from framecast.edge.auth import Authenticator

    app = FastAPI()
    app.include_router(router)
    app.state.service = FakeService()
    keys = SimpleNamespace(authenticate=lambda key: "other" if key == "k2" else None)
    app.state.authenticator = Authenticator(keys, "k1")
    with TestClient(app, headers={"Authorization": "Bearer k1"}) as test_client:
        test_client.service = app.state.service
        yield test_client


def test_router_video_lifecycle(client: Any) -> None:
    created = client.post("/v1/videos", data={"prompt": "p", "seconds": "4", "size": "1280x720",
                                              "seed": "9"},
                          files={"input_reference": ("a.png", png_bytes(), "image/png")})
    assert created.status_code == 200, created.text
    video = created.json()
    assert (video["object"], video["status"], video["seconds"]) == ("video", "queued", "4")
    spec = client.service.specs[-1]
    assert spec.images[0].url.startswith("data:image/png;base64,") and spec.seed == 9
    got = client.get(f"/v1/videos/{video['id']}")
    assert got.headers["openai-poll-after-ms"] == "1000"
    assert got.headers["x-framecast-engine"] == "motion"
    listed = client.get("/v1/videos", params={"limit": 5}).json()
    assert listed["data"][0]["id"] == video["id"] and listed["has_more"] is False
    not_ready = client.get(f"/v1/videos/{video['id']}/content")
    assert not_ready.status_code == 404
    assert not_ready.json()["error"]["code"] == "video_not_ready"
    client.service.tasks[video["id"]].status = TaskStatus.SUCCEEDED
    content = client.get(f"/v1/videos/{video['id']}/content")
    assert content.headers["content-type"] == "video/mp4"
    deleted = client.delete(f"/v1/videos/{video['id']}")
    assert deleted.json() == {"id": video["id"], "object": "video.deleted", "deleted": True}
    assert client.get(f"/v1/videos/{video['id']}").status_code == 404


def test_router_json_create_and_queued_delete_cancels(client: Any) -> None:
    created = client.post("/v1/videos", json={"prompt": "p", "input_reference":
                                              {"image_url": IMG}, "camera_fixed": True})
    assert created.status_code == 200 and client.service.specs[-1].camera_fixed is True
    assert client.delete(f"/v1/videos/{created.json()['id']}").json()["deleted"] is True


def test_router_images(client: Any) -> None:
    ok = client.post("/v1/images/generations", json={"prompt": "p", "size": "1024x1024"})
    assert ok.status_code == 200
    assert ok.json()["data"][0]["url"] == "http://files/image.png"
    assert ok.json()["meta"] == {"usage": {"credits_used": 4096}}
    client.service.image_status = TaskStatus.FAILED
    failed = client.post("/v1/images/generations", json={"prompt": "p"})
    assert failed.status_code == 500 and failed.headers["x-should-retry"] == "false"
    assert failed.json()["error"]["type"] == "server_error"


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "param"), [
    ("POST", "/v1/videos", {"data": {"seconds": "4"}}, 400, "prompt"),
    ("POST", "/v1/videos", {"data": {"prompt": "p", "seconds": "5.5"}}, 400, "seconds"),
    ("POST", "/v1/videos", {"data": {"prompt": "p", "size": "big"}}, 400, "size"),
    ("POST", "/v1/videos", {"data": {"prompt": "p", "model": "veo-3"}}, 404, "model"),
    ("POST", "/v1/videos", {"data": {"prompt": "p", "resolution": "8k"}}, 400, "resolution"),
    ("POST", "/v1/videos", {"data": {"prompt": "p"},
                            "files": {"video": ("v.mp4", b"x", "video/mp4")}}, 400, "video"),
    ("POST", "/v1/videos", {"content": b"prompt=p", "headers": {"Content-Type": "text/plain"}},
     400, "body"),
    ("POST", "/v1/videos", {"content": b"{x", "headers": {"Content-Type": "application/json"}},
     400, "body"),
    ("POST", "/v1/videos", {"json": {"prompt": "p", "input_reference": {"file_id": "f"}}}, 400,
     "input_reference.file_id"),
    ("GET", "/v1/videos", {"params": {"limit": "ten"}}, 400, "limit"),
    ("GET", "/v1/videos", {"params": {"order": "up"}}, 400, "order"),
    ("GET", "/v1/videos", {"params": {"after": "video_1"}}, 400, "after"),
    ("GET", "/v1/videos/cgt-none", {}, 404, "video_id"),
    ("GET", "/v1/videos/cgt-none/content", {"params": {"variant": "gif"}}, 400, "variant"),
    ("GET", "/v1/videos", {"headers": {"Authorization": "Bearer no"}}, 401, None),
    ("POST", "/v1/images/generations", {"json": {"prompt": "p", "n": 3}}, 400, "n"),
    ("POST", "/v1/images/generations", {"json": {"n": 1}}, 400, "prompt"),
    ("PUT", "/v1/videos", {}, 405, None),
])
def test_router_errors_use_the_openai_envelope(client: Any, method: str, url: str,
                                               kwargs: dict[str, Any], status: int,
                                               param: str | None) -> None:
    response = client.request(method, url, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["type"] == envelope.error_type(status)


def test_router_other_owner_gets_404(client: Any) -> None:
    video_id = client.post("/v1/videos", data={"prompt": "p"}).json()["id"]
    for method, url in (("GET", f"/v1/videos/{video_id}"), ("DELETE", f"/v1/videos/{video_id}"),
                        ("GET", f"/v1/videos/{video_id}/content")):
        response = client.request(method, url, headers={"Authorization": "Bearer k2"})
        assert response.status_code == 404, (method, url)


def test_an_over_long_chunked_body_is_413_in_this_envelope() -> None:
    import warnings

    from fastapi import FastAPI

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from framecast.api.middleware import BodyLimitMiddleware
    from framecast.dialects.openai.router import router
    from framecast.edge.auth import Authenticator

    app = FastAPI()
    app.add_middleware(BodyLimitMiddleware, max_bytes=100)
    app.include_router(router)
    service = FakeService()
    service.limits.fetch.max_bytes, service.limits.max_body_bytes = 1000, 100
    app.state.service = service
    app.state.authenticator = Authenticator(SimpleNamespace(authenticate=lambda k: None), "k1")
    chunks = (b'{"prompt": "' + b"x" * 50 for _ in range(10))      # no Content-Length
    with TestClient(app, headers={"Authorization": "Bearer k1"}) as test_client:
        response = test_client.post("/v1/videos", content=chunks,
                                    headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
