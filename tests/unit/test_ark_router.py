"""Unit tests of ``dialects/ark/router.py`` over an in-memory service: create, get, list,
delete, images (URL, base64, SSE, failure), errors in Ark's envelope, the lean routes'
OpenAPI documentation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from framecast.core.errors import (
    InvalidState,
    NotFound,
)
from framecast.core.spec import VideoSpec
from framecast.core.task import OutputFile, Task, TaskStatus
from tests.unit.support.ark import MODEL, SDK_NULLS, fake_url, make_task, text

# -- the router over an in-memory service --------------------------------------------------------


class FakeService:
    """Just enough of ``TaskService`` for the router: tasks live in a dict."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.limits = type("Limits", (), {"image_wait_s": 1.0})()
        self.image_status = TaskStatus.SUCCEEDED

    async def create_video(self, spec: VideoSpec, *, owner_id: str, dialect: str) -> Task:
        task = make_task(TaskStatus.QUEUED, **spec.model_dump(mode="json"))
        task.id, task.owner_id = f"cgt-20250101000000-{len(self.tasks):08d}", owner_id
        self.tasks[task.id] = task
        return task

    async def create_image(self, spec: Any, *, owner_id: str, dialect: str) -> Task:
        """The image task, already ended as ``image_status`` says."""
        task = make_task(self.image_status)
        task.id, task.owner_id = f"img-20250101000000-{len(self.tasks):08d}", owner_id
        task.kind, task.model, task.engine = "image", spec.model, "testcard"
        task.usage_tokens = 4096
        made = self.image_status == TaskStatus.SUCCEEDED
        task.outputs = [OutputFile("image.png", "k/image.png", "image/png", width=1024,
                                   height=1024)] if made else []
        if self.image_status == TaskStatus.FAILED:
            task.error_code, task.error_message = "InternalServiceError", "engine died"
        self.tasks[task.id] = task
        return task

    async def generate_image(self, spec: Any, *, owner_id: str, dialect: str) -> Task:
        return await self.create_image(spec, owner_id=owner_id, dialect=dialect)

    def get(self, task_id: str, *, owner_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None or task.owner_id != owner_id:
            raise NotFound("no such task", param="id")
        return task

    async def aget(self, task_id: str, *, owner_id: str) -> Task:
        return self.get(task_id, owner_id=owner_id)

    def list(self, owner_id: str, **kw: Any) -> tuple[int, list[Task]]:
        tasks = [t for t in self.tasks.values() if t.owner_id == owner_id]
        return len(tasks), tasks[kw["offset"]:kw["offset"] + kw["limit"]]

    def cancel_or_delete(self, task_id: str, *, owner_id: str) -> Task:
        task = self.get(task_id, owner_id=owner_id)
        if task.status in (TaskStatus.RUNNING, TaskStatus.CANCELLED):
            raise InvalidState("cannot", param="id")
        task.status = TaskStatus.CANCELLED
        return task

    def cancel(self, task_id: str, *, owner_id: str) -> Task:
        return self.get(task_id, owner_id=owner_id)

    def file_url(self, task: Task, name: str) -> str | None:
        return fake_url(task, name)

    def file_bytes(self, task: Task, name: str) -> bytes | None:
        return b"\x89PNG fake"


@pytest.fixture
def client() -> Any:
    import warnings
    from types import SimpleNamespace

    from fastapi import FastAPI

    with warnings.catch_warnings():   # starlette's TestClient wants httpx2; httpx works
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from framecast.dialects.ark.router import router
    from framecast.edge.auth import Authenticator

    app = FastAPI()
    app.include_router(router)
    app.state.service = FakeService()
    keys = SimpleNamespace(authenticate=lambda key: "other" if key == "k2" else None)
    app.state.authenticator = Authenticator(keys, "k1")
    with TestClient(app, headers={"Authorization": "Bearer k1"}) as test_client:
        test_client.service = app.state.service
        yield test_client


TASKS = "/api/v3/contents/generations/tasks"


def test_router_create_get_list_delete(client: Any) -> None:
    body = {"model": MODEL, "content": [text("a cat --rs 480p --frames 29")], **SDK_NULLS,
            "safety_identifier": "u1"}
    created = client.post(TASKS, json=body)
    assert created.status_code == 200
    assert created.json() == {"id": created.json()["id"], "safety_identifier": "u1"}
    assert created.headers["x-framecast-engine"] == "motion"
    task_id = created.json()["id"]
    got = client.get(f"{TASKS}/{task_id}")
    assert got.status_code == 200 and got.headers["x-framecast-engine"] == "motion"
    data = got.json()
    assert data["status"] == "queued" and data["error"] is None and "content" not in data
    assert data["frames"] == 29 and "duration" not in data and data["resolution"] == "480p"
    listed = client.get(TASKS, params={"page_num": 1, "page_size": 5})
    assert listed.json()["total"] == 1 and listed.json()["items"][0]["id"] == task_id
    assert client.request("DELETE", f"{TASKS}/{task_id}", json={}).json() == {}
    again = client.request("DELETE", f"{TASKS}/{task_id}", json={})
    assert again.status_code == 400 and again.json()["error"]["type"] == "BadRequest"


def test_lean_routes_are_documented(client: Any) -> None:
    """Create and get are ``lean`` routes (``edge.body.lean``: their parameters are not read
    by FastAPI's solver); the OpenAPI document still shows the body and the path parameter."""
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    body = paths[TASKS]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    if "$ref" in schema:                              # the body model, as a component
        schema = document["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
    assert body["required"] is True and set(schema["required"]) == {"model", "content"}
    assert "$defs" not in json.dumps(schema)          # nested models written out in place
    assert "image_url" in json.dumps(schema["properties"]["content"])
    parameters = paths[f"{TASKS}/{{task_id}}"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in parameters] == \
        [("task_id", "path", True)]


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "code", "param"), [
    ("post", TASKS, {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
     400, "InvalidParameter", "body"),
    ("post", TASKS, {"json": {"model": MODEL}}, 400, "MissingParameter", "content"),
    ("post", TASKS, {"json": {"content": [text("x")]}}, 400, "MissingParameter", "model"),
    ("post", TASKS, {"json": {"model": MODEL, "content": [{"type": "image_url",
                                                           "image_url": {"uri": "x"}}]}},
     400, "MissingParameter", "content[0].image_url.url"),
    ("post", TASKS, {"json": {"model": MODEL, "content": [text("x --rt 7:5")]}},
     400, "InvalidParameter", "ratio"),
    ("post", TASKS, {"json": {"model": MODEL, "content": [text("x")], "seed": "abc"}},
     400, "InvalidParameter", "seed"),
    ("post", TASKS, {"json": [1, 2]}, 400, "InvalidParameter", "body"),
    ("get", f"{TASKS}/cgt-nope", {}, 404, "ResourceNotFound", "id"),
    ("get", TASKS, {"params": {"page_num": 0}}, 400, "InvalidParameter", "page_num"),
    ("get", TASKS, {"params": {"page_size": 501}}, 400, "InvalidParameter", "page_size"),
    ("get", TASKS, {"params": {"page_size": "ten"}}, 400, "InvalidParameter", "page_size"),
    ("get", TASKS, {"params": {"filter.status": "done"}}, 400, "InvalidParameter",
     "filter.status"),
    ("get", TASKS, {"headers": {"Authorization": "Bearer wrong"}}, 401, "AuthenticationError",
     None),
    ("post", "/api/v3/images/generations", {"json": {"model": "m"}}, 400, "MissingParameter",
     "prompt"),
])
def test_router_errors_use_the_ark_envelope(client: Any, method: str, url: str,
                                            kwargs: dict[str, Any], status: int, code: str,
                                            param: str | None) -> None:
    response = client.request(method.upper(), url, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert error["type"] == {400: "BadRequest", 401: "Unauthorized", 404: "NotFound"}[status]


def test_router_wrong_method_is_405_in_the_envelope(client: Any) -> None:
    response = client.put(TASKS, json={})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "MethodNotAllowed"
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}


def test_router_other_owner_gets_404(client: Any) -> None:
    task_id = client.post(TASKS, json={"model": MODEL, "content": [text("x")]}).json()["id"]
    other = client.get(f"{TASKS}/{task_id}", headers={"Authorization": "Bearer k2"})
    assert other.status_code == 404


def test_router_images_url_b64_stream_and_failure(client: Any) -> None:
    url = "/api/v3/images/generations"
    ok = client.post(url, json={"model": "seedream-3-0-t2i-250415", "prompt": "p"}).json()
    assert ok["data"] == [{"url": "http://files/image.png", "size": "1024x1024",
                           "output_format": "png"}]
    assert ok["usage"] == {"generated_images": 1, "output_tokens": 4096, "total_tokens": 4096}
    assert ok["created"] == ok["created_at"]
    b64 = client.post(url, json={"model": "m", "prompt": "p", "response_format": "b64_json"})
    assert "b64_json" in b64.json()["data"][0] and "url" not in b64.json()["data"][0]
    streamed = client.post(url, json={"model": "m", "prompt": "p", "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert "event: image_generation.partial_succeeded" in streamed.text
    assert streamed.text.rstrip().endswith("data: [DONE]")
    client.service.image_status = TaskStatus.FAILED
    failed = client.post(url, json={"model": "m", "prompt": "p"})
    assert failed.status_code == 500 and failed.headers["x-should-retry"] == "false"
    assert failed.json()["error"]["message"] == "engine died"
    streamed = client.post(url, json={"model": "m", "prompt": "p", "stream": True})
    events = [json.loads(line[6:]) for line in streamed.text.splitlines()
              if line.startswith("data: {")]
    assert [e["type"] for e in events] == ["image_generation.partial_failed",
                                           "image_generation.completed"]
    assert events[0]["image_index"] == 0 and events[0]["error"]["message"] == "engine died"
    assert events[1]["usage"]["generated_images"] == 0
