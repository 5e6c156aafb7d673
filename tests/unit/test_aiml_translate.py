"""Unit tests of the AI/ML API dialect: per-model schemas and defaults, field spellings,
``duration`` as string or integer, the field every bad input is blamed on, the generation
object for every status, the error envelope, and the router over an in-memory service."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from framecast.core.errors import (
    EngineFailed,
    FetchFailed,
    InvalidInput,
    MissingInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from framecast.core.spec import VideoSpec
from framecast.core.task import OutputFile, Task, TaskStatus
from framecast.dialects.aiml import translate, wire
from framecast.dialects.aiml.envelope import ENVELOPE
from framecast.edge.envelope import field_path
from framecast.service.registry import Registry

PRO_I2V = "bytedance/seedance-1-0-pro-i2v"
PRO_T2V = "bytedance/seedance-1-0-pro-t2v"
PRO_FAST = "bytedance/seedance-1-0-pro-fast"
LITE_I2V = "bytedance/seedance-1-0-lite-i2v"
LITE_T2V = "bytedance/seedance-1-0-lite-t2v"
PRO_15 = "bytedance/seedance-1-5-pro"
IMG = "https://example.com/first.jpeg"


def spec_of(resolutions: list[str] | None = None, **body: Any) -> VideoSpec:
    return translate.video_spec_from_wire(translate.parse_request(body), resolutions)


def bad_param(**body: Any) -> str | None:
    """The field a client is told is at fault (the core's name in this API's words)."""
    with pytest.raises(InvalidInput) as caught:
        spec_of(**body)
    assert caught.value.status == 400
    return ENVELOPE.param(caught.value.param)


# -- per-model schemas and defaults --------------------------------------------------------


def test_seed_002_body_pro_i2v_with_string_duration() -> None:
    spec = spec_of(model=PRO_I2V, prompt="Mona Lisa puts on glasses with her hands.",
                   image_url=IMG, duration="5")
    assert (spec.model, spec.resolution, spec.duration) == (PRO_I2V, "1080p", 5)
    assert spec.ratio is None           # no aspect_ratio field: the video follows the image
    assert [(i.role, i.url, i.param) for i in spec.images] == [("first_frame", IMG, "image_url")]
    assert (spec.watermark, spec.camera_fixed, spec.generate_audio) == (False, False, False)


def test_seed_003_body_lite_i2v_defaults_to_720p() -> None:
    spec = spec_of(model=LITE_I2V, prompt="Mona Lisa puts on glasses with her hands.",
                   image_url=IMG)
    assert (spec.resolution, spec.duration) == ("720p", 5)


@pytest.mark.parametrize(("model", "resolution", "ratio", "audio"), [
    (LITE_T2V, "1080p", "16:9", False),
    (PRO_T2V, "1080p", None, False),
    (PRO_FAST, "1080p", None, False),
    (PRO_15, "720p", "16:9", True),
])
def test_text_to_video_defaults_per_model(model: str, resolution: str, ratio: str | None,
                                          audio: bool) -> None:
    spec = spec_of(model=model, prompt="a harbour at dawn")
    assert (spec.resolution, spec.ratio, spec.duration, spec.generate_audio) == \
        (resolution, ratio, 5, audio)


def test_seedance_15_pro_fields() -> None:
    spec = spec_of(model=PRO_15, prompt="p", image_url=IMG, last_image_url=IMG,
                   aspect_ratio="adaptive", resolution="480p", duration=12, seed=7,
                   camera_fixed=True, watermark=True, generate_audio=False)
    assert [i.role for i in spec.images] == ["first_frame", "last_frame"]
    assert (spec.ratio, spec.resolution, spec.duration, spec.seed) == ("adaptive", "480p", 12, 7)
    assert (spec.camera_fixed, spec.watermark, spec.generate_audio) == (True, True, False)
    assert spec_of(model=PRO_15, prompt="p", duration="4").duration == 4
    assert spec_of(model=PRO_15, prompt="p").seed == -1      # the documented default


@pytest.mark.parametrize("model", [PRO_I2V, LITE_T2V, LITE_I2V, PRO_15])
@pytest.mark.parametrize("spelling", ["camerafixed", "camera_fixed"])
def test_both_camera_spellings_on_every_model(model: str, spelling: str) -> None:
    body = {"model": model, "prompt": "p", "image_url": IMG, spelling: True}
    if model == LITE_T2V:
        del body["image_url"]
    assert spec_of(**body).camera_fixed is True


def test_camera_spellings_that_disagree_are_refused() -> None:
    assert bad_param(model=PRO_I2V, prompt="p", camerafixed=True, camera_fixed=False) == \
        "camera_fixed"
    assert spec_of(model=PRO_I2V, prompt="p", camerafixed=True, camera_fixed=True).camera_fixed


def test_unknown_fields_are_ignored_and_audio_is_ignored_on_10_models() -> None:
    spec = spec_of(model=PRO_I2V, prompt="p", negative_prompt="blur", enhance_prompt=True,
                   generate_audio="maybe", frames=33, ratio="1:1")
    assert spec.generate_audio is False and spec.frames is None and spec.ratio is None


def test_aspect_ratio_accepted_beyond_the_schema_on_i2v_models() -> None:
    assert spec_of(model=PRO_I2V, prompt="p", aspect_ratio="9:16").ratio == "9:16"
    assert spec_of(model=LITE_I2V, prompt="p", image_url=IMG, aspect_ratio="1:1").ratio == "1:1"


def test_other_registry_ids_take_every_field_and_the_registry_defaults() -> None:
    spec = spec_of(model="seedance-1-0-pro-250528", prompt="p", duration=3)
    assert (spec.duration, spec.resolution, spec.ratio) == (3, None, None)
    assert bad_param(model="seedance-1-0-pro-250528", prompt="p", duration=20) == "duration"


def test_documented_default_outside_the_engines_resolutions_falls_back() -> None:
    assert spec_of(["480p", "720p"], model=PRO_I2V, prompt="p").resolution is None
    assert spec_of(["480p", "720p"], model=PRO_I2V, prompt="p",
                   resolution="1080p").resolution == "1080p"     # asked for: kept (and refused
    assert spec_of(None, model=PRO_I2V, prompt="p").resolution == "1080p"   # by the service)


def test_callback_url_reaches_the_spec() -> None:
    spec = spec_of(model=PRO_15, prompt="p", callback_url="https://hooks.example.com/x")
    assert spec.callback_url == "https://hooks.example.com/x"


def test_data_uri_image_is_accepted() -> None:
    uri = "data:image/png;base64,iVBORw0KGgo="
    assert spec_of(model=LITE_I2V, prompt="", image_url=uri).images[0].url == uri


# -- every bad input names its field ---------------------------------------------------------


@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": "p"}, "model"),
    ({"model": 5, "prompt": "p"}, "model"),
    ({"model": PRO_I2V}, "prompt"),
    ({"model": PRO_15, "prompt": "  "}, "prompt"),
    ({"model": LITE_I2V, "prompt": "p"}, "image_url"),
    ({"model": LITE_T2V, "prompt": "p", "image_url": IMG}, "image_url"),
    ({"model": LITE_T2V, "prompt": "p", "last_image_url": IMG}, "last_image_url"),
    ({"model": PRO_I2V, "prompt": "p", "last_image_url": IMG}, "last_image_url"),
    ({"model": PRO_I2V, "prompt": "p", "image_url": "ftp://x/y.png"}, "image_url"),
    ({"model": PRO_I2V, "prompt": "p", "image_url": "data:text/plain;base64,eA=="}, "image_url"),
    ({"model": PRO_I2V, "prompt": "p", "duration": 3}, "duration"),
    ({"model": PRO_I2V, "prompt": "p", "duration": "four"}, "duration"),
    ({"model": PRO_I2V, "prompt": "p", "duration": True}, "duration"),
    ({"model": PRO_15, "prompt": "p", "duration": 13}, "duration"),
    ({"model": PRO_15, "prompt": "p", "duration": 3}, "duration"),
    ({"model": PRO_I2V, "prompt": "p", "resolution": "4k"}, "resolution"),
    ({"model": LITE_T2V, "prompt": "p", "aspect_ratio": "5:4"}, "aspect_ratio"),
    ({"model": PRO_15, "prompt": "p", "seed": 2**32}, "seed"),
    ({"model": PRO_15, "prompt": "p", "seed": "lucky"}, "seed"),
    ({"model": PRO_15, "prompt": "p", "watermark": "sometimes"}, "watermark"),
    ({"model": PRO_15, "prompt": "p", "callback_url": "ftp://hooks"}, "callback_url"),
    ({"model": PRO_15, "prompt": "x" * 10_001}, "prompt"),
])
def test_bad_input_names_its_field(body: dict[str, Any], param: str) -> None:
    assert bad_param(**body) == param


def test_missing_fields_are_missing_input() -> None:
    with pytest.raises(MissingInput):
        translate.parse_request({"model": LITE_I2V, "prompt": "p"})
    with pytest.raises(InvalidInput):
        translate.parse_request(["not", "an", "object"])


def test_schemas_list_every_documented_model() -> None:
    assert set(wire.SCHEMAS) == {PRO_I2V, PRO_T2V, PRO_FAST, LITE_I2V, LITE_T2V, PRO_15}
    registry = Registry.load(None)
    for model in wire.SCHEMAS:
        assert registry.resolve(model, kind="video").kind == "video"


# -- a task on the wire ----------------------------------------------------------------------


def make_task(status: TaskStatus, **spec: Any) -> Task:
    base = {"model": PRO_I2V, "prompt": "p", "resolution": "480p", "ratio": "16:9",
            "width": 864, "height": 480, "duration": 5, "fps": 24, "seed": 11}
    return Task(id="cgt-20250721143112-kkm5nabc", owner_id="o", kind="video", model=PRO_I2V,
                engine="motion", status=status, spec={**base, **spec}, dialect="ark",
                usage_tokens=48600, created_at=1_750_000_000.0, updated_at=1_750_000_060.0,
                progress=0.25)


def file_url(task: Task, name: str) -> str | None:
    return f"http://files/{task.id}/{name}" if task.output(name) else None


@pytest.mark.parametrize(("status", "wire_status"), [
    (TaskStatus.QUEUED, "queued"), (TaskStatus.RUNNING, "generating"),
    (TaskStatus.SUCCEEDED, "completed"), (TaskStatus.FAILED, "error"),
    (TaskStatus.CANCELLED, "error"), (TaskStatus.EXPIRED, "error"),
])
def test_status_mapping(status: TaskStatus, wire_status: str) -> None:
    assert translate.generation(make_task(status), file_url).status == wire_status
    assert set(translate.STATUSES) == set(TaskStatus)


def test_completed_generation_has_the_video_and_usage() -> None:
    task = make_task(TaskStatus.SUCCEEDED)
    task.outputs = [OutputFile("video.mp4", "k", "video/mp4")]
    body = translate.generation(task, file_url).model_dump(mode="json")
    assert body == {"id": task.id, "status": "completed",
                    "video": {"url": f"http://files/{task.id}/video.mp4"}, "error": None,
                    "meta": {"usage": {"credits_used": 48600, "usd_spent": 0.0},
                             "engine": "motion", "progress": 100}}


def test_pending_generation_has_nulls_and_progress() -> None:
    body = translate.generation(make_task(TaskStatus.RUNNING), file_url).model_dump()
    assert body["video"] is None and body["error"] is None
    assert body["meta"] == {"usage": None, "engine": "motion", "progress": 25}


@pytest.mark.parametrize(("status", "code", "name"), [
    (TaskStatus.FAILED, "InternalServiceError", "InternalServiceError"),
    (TaskStatus.FAILED, None, "InternalServiceError"),
    (TaskStatus.CANCELLED, None, "Cancelled"),
    (TaskStatus.EXPIRED, None, "TaskExpired"),
])
def test_error_generations(status: TaskStatus, code: str | None, name: str) -> None:
    task = make_task(status)
    task.error_code = code
    error = translate.generation(task, file_url).error
    assert error is not None and error.name == name and error.message


def test_created_reply_and_webhook_body() -> None:
    task = make_task(TaskStatus.QUEUED)
    assert translate.created(task).model_dump() == {"id": task.id, "status": "queued",
                                                    "generation_id": task.id}
    service = SimpleNamespace(file_url=file_url)
    assert translate.webhook_body(task, service)["status"] == "queued"   # type: ignore[arg-type]


# -- the error envelope ------------------------------------------------------------------------


def request(method: str = "POST", path: str = "/v2/video/generations") -> Request:
    return Request({"type": "http", "method": method, "path": path, "query_string": b"",
                    "headers": [], "scheme": "http", "server": ("testserver", 80),
                    "root_path": ""})


@pytest.mark.parametrize(("exc", "status", "param", "prefix"), [
    (InvalidInput("bad", param="duration"), 400, "duration", "Body validation error!\n"),
    (MissingInput("Required", param="prompt"), 400, "prompt", "Body validation error!\n"),
    (InvalidInput("no first frame", param="images"), 400, "image_url", "Body validation"),
    (NotFound("The video model `x` does not exist", param="model"), 400, "model", "Body"),
    (NotFound("Generation not found", param="generation_id"), 404, "generation_id",
     "Generation"),
    (FetchFailed("could not fetch", param="image_url"), 400, "image_url", "could not"),
    (PayloadTooLarge("too big", param="image_url"), 413, "image_url", "too big"),
    (Unauthorized("missing key"), 401, None, "missing key"),
    (RateLimited("slow down", retry_after_s=2.5), 429, None, "slow down"),
    (EngineFailed("engine died"), 500, None, "engine died"),
])
def test_errors_map_to_the_vendor_envelope(exc: Any, status: int, param: str | None,
                                           prefix: str) -> None:
    response = ENVELOPE.respond(exc, request())
    body = response.body.decode()
    import json

    data = json.loads(body)
    assert response.status_code == status
    assert data["statusCode"] == str(status) and data["path"] == "/v2/video/generations"
    assert data.get("param") == param and data["message"].startswith(prefix)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["timestamp"])
    assert re.fullmatch(r"[0-9a-f-]{36}", data["requestId"])
    if status == 429:
        assert response.headers["retry-after"] == "3"
    if status == 500:
        assert response.headers["x-should-retry"] == "false"


def test_query_errors_say_query() -> None:
    response = ENVELOPE.respond(MissingInput("Required", param="generation_id"), request("GET"))
    assert b"Query validation error!\\ngeneration_id: Required" in response.body


def test_field_path() -> None:
    assert field_path(("query", "generation_id")) == "generation_id"
    assert field_path(("body", "image_size", "width")) == "image_size.width"
    assert field_path(("body", "image_urls", 2)) == "image_urls[2]"
    assert field_path(()) == "body"


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
