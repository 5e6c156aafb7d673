"""Unit tests of the Ark dialect's translation: prompt flags, nulls, precedence, roles, the
parameter every bad input is blamed on, task rendering and the error envelope."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from framecast.core.errors import (
    EngineFailed,
    InvalidInput,
    InvalidState,
    MissingInput,
    NotFound,
    RateLimited,
    Unauthorized,
)
from framecast.core.spec import VideoSpec
from framecast.core.task import OutputFile, Task, TaskStatus
from framecast.dialects.ark import flags, translate, wire
from framecast.dialects.ark.envelope import ENVELOPE
from framecast.edge.envelope import field_path
from tests.unit.support.envelopes import respond, respond_validation

MODEL = "doubao-seedance-1-0-pro-250528"
PNG_URL = "https://example.com/first.png"
SDK_NULLS: dict[str, Any] = {
    # what the official SDKs send for every argument left out (api-dialects.md §2.2)
    "safety_identifier": None, "callback_url": None, "return_last_frame": None,
    "service_tier": None, "execution_expires_after": None, "priority": None,
    "generate_audio": None, "draft": None, "camera_fixed": None, "watermark": None,
    "seed": None, "resolution": None, "ratio": None, "duration": None, "frames": None,
    "tools": None, "output_format": None, "omni_reference_task_type": None,
}


def text(prompt: str) -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def image(url: str = PNG_URL, role: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if role is not None:
        item["role"] = role
    return item


def spec_of(*content: dict[str, Any], **fields: Any) -> VideoSpec:
    body = {"model": MODEL, "content": list(content), **SDK_NULLS, **fields}
    return translate.video_spec_from_wire(wire.CreateTaskRequest.model_validate(body))


def bad_param(*content: dict[str, Any], **fields: Any) -> str | None:
    """The field an Ark client is told is at fault (the core's name in Ark's words)."""
    with pytest.raises(InvalidInput) as caught:
        spec_of(*content, **fields)
    assert caught.value.status == 400
    return ENVELOPE.param(caught.value.param)


# -- prompt flags -----------------------------------------------------------------------


@pytest.mark.parametrize(("prompt", "field", "raw"), [
    ("a cat --resolution 720p", "resolution", "720p"),
    ("a cat --rs 720p", "resolution", "720p"),
    ("a cat --ratio 4:3", "ratio", "4:3"),
    ("a cat --rt 4:3", "ratio", "4:3"),
    ("a cat --duration 7", "duration", "7"),
    ("a cat --dur 7", "duration", "7"),
    ("a cat --frames 29", "frames", "29"),
    ("a cat --framespersecond 24", "framespersecond", "24"),
    ("a cat --fps 24", "framespersecond", "24"),
    ("a cat --seed 42", "seed", "42"),
    ("a cat --camerafixed true", "camera_fixed", "true"),
    ("a cat --cf true", "camera_fixed", "true"),
    ("a cat --watermark false", "watermark", "false"),
    ("a cat --wm false", "watermark", "false"),
])
def test_every_flag_long_and_short_is_parsed_and_stripped(prompt: str, field: str,
                                                          raw: str) -> None:
    parsed = flags.parse_prompt_flags(prompt)
    assert parsed.prompt == "a cat"
    assert parsed.values == {field: raw}


def test_flags_anywhere_with_odd_spacing_quotes_and_case() -> None:
    parsed = flags.parse_prompt_flags(
        '  --RS 480p a red\tfox   --rt "9:16"  jumps --dur=3 over\n--seed  -1 the fence --CF   '
        "'false'")
    assert parsed.prompt == "a red\tfox jumps over the fence"
    assert parsed.values == {"resolution": "480p", "ratio": "9:16", "duration": "3", "seed": "-1",
                            "camera_fixed": "false"}


def test_unknown_flags_and_dashes_stay_in_the_prompt() -> None:
    parsed = flags.parse_prompt_flags("a cat --fr 29 --foo bar -- fast, x--rs 720p --rsx 1")
    assert parsed.prompt == "a cat --fr 29 --foo bar -- fast, x--rs 720p --rsx 1"
    assert parsed.values == {}


def test_repeated_flag_keeps_the_last_value_and_trailing_punctuation_is_dropped() -> None:
    parsed = flags.parse_prompt_flags("a cat --rs 480p --rs 720p. --dur 4,")
    assert parsed.values == {"resolution": "720p", "duration": "4"}
    assert parsed.prompt == "a cat"


@pytest.mark.parametrize("prompt", ["a cat --rs", "a cat --rs --rt 16:9", "a cat --cf "])
def test_flag_without_a_value_is_rejected(prompt: str) -> None:
    with pytest.raises(InvalidInput):
        flags.parse_prompt_flags(prompt)


def test_parsing_is_linear_and_the_raw_text_is_capped() -> None:
    import time

    started = time.perf_counter()
    assert flags.parse_prompt_flags(" " * 19_980 + "x --rs 480p").prompt == "x"
    assert flags.parse_prompt_flags("--rs 480p " * 1_900).values == {"resolution": "480p"}
    assert time.perf_counter() - started < 1.0
    with pytest.raises(InvalidInput) as caught:
        flags.parse_prompt_flags(" " * 20_001)
    assert caught.value.param == "content"


def test_flags_become_spec_fields_and_leave_the_prompt() -> None:
    spec = spec_of(text("a boat at dawn --rs 480p --rt 1:1 --dur 3 --seed 7 --cf true --wm true"
                        " --fps 24"))
    assert spec.prompt == "a boat at dawn"
    assert (spec.resolution, spec.ratio, spec.duration, spec.seed) == ("480p", "1:1", 3, 7)
    assert spec.camera_fixed is True and spec.watermark is True
    assert spec.fps == 24 and spec.frames is None


def test_frames_flag() -> None:
    spec = spec_of(text("waves --frames 29 --rs 480p"))
    assert spec.frames == 29 and spec.duration is None


def test_resolution_value_is_case_insensitive() -> None:
    assert spec_of(text("x --rs 720P")).resolution == "720p"
    assert spec_of(text("x --rt Adaptive"), image()).ratio == "adaptive"


def test_duration_minus_one_means_model_default() -> None:
    assert spec_of(text("x --dur -1")).duration is None
    assert spec_of(text("x"), duration=-1).duration is None


# -- nulls and precedence ---------------------------------------------------------------------


def test_sdk_nulls_are_absent() -> None:
    spec = spec_of(text("a cat"))
    assert spec.resolution is None and spec.ratio is None and spec.seed is None
    assert spec.camera_fixed is False and spec.watermark is False
    assert spec.service_tier == "default" and spec.execution_expires_after == 172800
    assert spec.return_last_frame is False and spec.callback_url is None


def test_tolerated_fields_are_ignored() -> None:
    spec = spec_of(text("a cat"), draft=False, tools=[{"type": "web_search"}],
                   output_format="mp4", omni_reference_task_type="auto", priority=3,
                   unknown_future_field={"x": 1})
    assert spec.prompt == "a cat"


def test_top_level_fields_win_over_text_flags() -> None:
    spec = spec_of(text("a cat --rs 480p --rt 1:1 --dur 3 --seed 1 --cf false --wm false"),
                   resolution="720p", ratio="16:9", duration=4, seed=2, camera_fixed=True,
                   watermark=True)
    assert (spec.resolution, spec.ratio, spec.duration, spec.seed) == ("720p", "16:9", 4, 2)
    assert spec.camera_fixed is True and spec.watermark is True
    assert spec.prompt == "a cat"


def test_an_invalid_flag_is_reported_even_when_the_top_level_field_is_set() -> None:
    # a bad flag is still reported: the prompt is the client's text and a typo there is a bug
    assert bad_param(text("a cat --rs 4k"), resolution="720p") == "resolution"


def test_top_level_options_reach_the_spec() -> None:
    spec = spec_of(text("a cat"), return_last_frame=True, service_tier="flex",
                   execution_expires_after=3600, callback_url="https://cb.example/hook",
                   generate_audio=True, frames=33, safety_identifier="user-1")
    assert spec.return_last_frame is True and spec.service_tier == "flex"
    assert spec.execution_expires_after == 3600 and spec.callback_url == "https://cb.example/hook"
    assert spec.generate_audio is True and spec.frames == 33


def test_multiple_text_items_are_joined() -> None:
    spec = spec_of(text("a cat --rs 480p"), text("on a mat --dur 2"))
    assert spec.prompt == "a cat on a mat"
    assert (spec.resolution, spec.duration) == ("480p", 2)


# -- roles --------------------------------------------------------------------------------------


def test_image_without_role_is_the_first_frame() -> None:
    spec = spec_of(text("x"), image())
    assert [i.role for i in spec.images] == ["first_frame"]
    assert spec.images[0].param == "content[1].image_url.url"


def test_first_and_last_frame() -> None:
    spec = spec_of(image(role="first_frame"), image("data:image/png;base64,AAAA", "last_frame"),
                   text("x"))
    assert spec.first_frame is not None and spec.last_frame is not None
    assert spec.last_frame.param == "content[1].image_url.url"


def test_reference_images() -> None:
    spec = spec_of(text("x"), *[image(role="reference_image") for _ in range(4)])
    assert len(spec.reference_images) == 4


def test_image_only_request_needs_no_text() -> None:
    assert spec_of(image()).prompt == ""


# -- every bad input names its parameter ------------------------------------------------------


@pytest.mark.parametrize(("content", "fields", "param"), [
    ([text("x --rs 4k")], {}, "resolution"),
    ([text("x")], {"resolution": "2160p"}, "resolution"),
    ([text("x --rt 5:4")], {}, "ratio"),
    ([text("x")], {"ratio": "square"}, "ratio"),
    ([text("x --dur 1")], {}, "duration"),
    ([text("x")], {"duration": 13}, "duration"),
    ([text("x --dur five")], {}, "duration"),
    ([text("x --frames 30")], {}, "frames"),
    ([text("x")], {"frames": 293}, "frames"),
    ([text("x --dur 5 --frames 29")], {}, "frames"),
    ([text("x --fps 30")], {}, "framespersecond"),
    ([text("x --fps 16")], {}, "framespersecond"),
    ([text("x --seed -2")], {}, "seed"),
    ([text("x")], {"seed": 4294967296}, "seed"),
    ([text("x --cf maybe")], {}, "camera_fixed"),
    ([text("x --wm yes")], {}, "watermark"),
    ([text("x")], {"service_tier": "premium"}, "service_tier"),
    ([text("x")], {"execution_expires_after": 60}, "execution_expires_after"),
    ([text("x")], {"priority": 10}, "priority"),
    ([text("x")], {"safety_identifier": "u" * 65}, "safety_identifier"),
    ([text("x")], {"callback_url": "ftp://cb"}, "callback_url"),
    ([text("x"), image(role="last_frame")], {}, "content"),
    ([text("x"), image(role="first_frame"), image(role="first_frame")], {}, "content"),
    ([text("x"), *[image(role="reference_image") for _ in range(5)]], {}, "content"),
    ([text("x"), image(role="first_frame"), image(role="reference_image")], {}, "content"),
    ([text("x --rs 1080p"), image(role="reference_image")], {}, "resolution"),
    ([text("x"), image(role="middle_frame")], {}, "content[1].role"),
    ([text("x"), image("ftp://example.com/a.png")], {}, "content[1].image_url.url"),
    ([text("x"), image("file:///etc/passwd")], {}, "content[1].image_url.url"),
    ([text("x"), image("data:text/plain;base64,aGk=")], {}, "content[1].image_url.url"),
    ([text("x"), {"type": "video_url", "video_url": {"url": "https://v/a.mp4"}}], {}, "content"),
    ([{"type": "audio_url", "audio_url": {"url": "https://a/a.mp3"}}], {}, "content"),
    ([{"type": "draft_task", "draft_task": {"id": "cgt-1"}}], {}, "content"),
    ([], {}, "content"),
    ([text("   --rs 480p ")], {}, "content"),
    ([text("x" * 10_001)], {}, "content"),
])
def test_bad_input_names_the_parameter(content: list[dict[str, Any]], fields: dict[str, Any],
                                       param: str) -> None:
    assert bad_param(*content, **fields) == param


def test_empty_content_is_a_missing_parameter() -> None:
    with pytest.raises(MissingInput):
        spec_of()


# -- wire request parsing (pydantic side) ------------------------------------------------------


def validation_param(body: dict[str, Any], model: type = wire.CreateTaskRequest) -> str:
    """The param the Ark error mapping would name for a body pydantic rejects."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    first = caught.value.errors()[0]
    return field_path(("body", *first["loc"]), ENVELOPE.union_tags)


@pytest.mark.parametrize(("body", "param"), [
    ({"content": [text("x")]}, "model"),
    ({"model": MODEL}, "content"),
    ({"model": MODEL, "content": "a cat"}, "content"),
    ({"model": MODEL, "content": [text("x"), {"type": "image_url", "image_url": {}}]},
     "content[1].image_url.url"),
    ({"model": MODEL, "content": [text("x"), {"type": "image_url"}]}, "content[1].image_url"),
    ({"model": MODEL, "content": [{"type": "text"}]}, "content[0].text"),
    ({"model": MODEL, "content": [{"type": "sound"}]}, "content[0]"),
    ({"model": MODEL, "content": [{"text": "x"}]}, "content[0]"),
    ({"model": MODEL, "content": [text("x")], "duration": "five"}, "duration"),
    ({"model": MODEL, "content": [text("x")], "seed": 1.5}, "seed"),
    ({"model": MODEL, "content": [text("x")], "return_last_frame": "perhaps"},
     "return_last_frame"),
])
def test_wire_validation_errors_name_the_field(body: dict[str, Any], param: str) -> None:
    assert validation_param(body) == param


def test_field_path_of_query_and_json_errors() -> None:
    assert field_path(("query", "page_num"), ENVELOPE.union_tags) == "page_num"
    assert field_path(("query", "filter.task_ids", 0), ENVELOPE.union_tags) == "filter.task_ids[0]"
    assert field_path(("body",), ENVELOPE.union_tags) == "body"
    assert field_path((), ENVELOPE.union_tags) == "body"


# -- error envelope ---------------------------------------------------------------------------


def envelope_of(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status_code, json.loads(response.body)["error"]


@pytest.mark.parametrize(("exc", "status", "type_", "code"), [
    (InvalidInput("bad", param="ratio"), 400, "BadRequest", "InvalidParameter"),
    (MissingInput("none", param="content"), 400, "BadRequest", "MissingParameter"),
    (Unauthorized("who"), 401, "Unauthorized", "AuthenticationError"),
    (NotFound("gone", param="id"), 404, "NotFound", "ResourceNotFound"),
    (InvalidState("running", param="id"), 400, "BadRequest", "InvalidAction"),
    (RateLimited("slow down", retry_after_s=2.5), 429, "TooManyRequests", "RateLimitExceeded"),
    (EngineFailed("boom"), 500, "InternalServiceError", "InternalServiceError"),
])
def test_framecast_errors_map_to_the_ark_envelope(exc: Any, status: int, type_: str,
                                                  code: str) -> None:
    response = respond(ENVELOPE, exc)
    got_status, body = envelope_of(response)
    assert (got_status, body["type"], body["code"]) == (status, type_, code)
    assert body["message"] == exc.message and body["param"] == exc.param
    if status == 429:
        assert response.headers["retry-after"] == "3"
    if status == 500:
        assert response.headers["x-should-retry"] == "false"


def test_payload_too_large_is_bad_request_413() -> None:
    from framecast.core.errors import PayloadTooLarge

    status, body = envelope_of(respond(ENVELOPE, PayloadTooLarge("big")))
    assert (status, body["type"]) == (413, "BadRequest")


def test_validation_error_envelopes() -> None:
    missing = RequestValidationError([{"type": "missing", "loc": ("body", "model"), "msg": "x"}])
    status, body = envelope_of(respond_validation(ENVELOPE, missing))
    assert (status, body["code"], body["param"]) == (400, "MissingParameter", "model")
    bad_json = RequestValidationError([{"type": "json_invalid", "loc": ("body", 3), "msg": "x",
                                        "ctx": {"error": "Expecting value"}}])
    status, body = envelope_of(respond_validation(ENVELOPE, bad_json))
    assert (status, body["code"], body["param"]) == (400, "InvalidParameter", "body")


# -- task rendering ---------------------------------------------------------------------------


def make_task(status: TaskStatus, **spec: Any) -> Task:
    resolved = {"model": MODEL, "resolution": "480p", "ratio": "16:9", "duration": 5,
                "frames": None, "fps": 24, "seed": 11, "camera_fixed": False, "watermark": False,
                "generate_audio": False, "return_last_frame": False,
                "execution_expires_after": 172800, "width": 864, "height": 480,
                "frames_total": 121, **spec}
    return Task(id="cgt-20250101000000-abcdefgh", owner_id="o", kind="video", model=MODEL,
                engine="motion", status=status, spec=resolved, seed=11, created_at=1700000000.7,
                updated_at=1700000005.2, usage_tokens=48600, progress=0.42,
                outputs=[OutputFile("video.mp4", "k/video.mp4", "video/mp4"),
                         OutputFile("last_frame.png", "k/last_frame.png", "image/png")])


def fake_url(task: Task, name: str) -> str | None:
    return f"http://files/{name}" if task.output(name) else None


def test_succeeded_task_on_the_wire() -> None:
    data = translate.task_to_wire(make_task(TaskStatus.SUCCEEDED, return_last_frame=True),
                                  fake_url).model_dump()
    assert data["status"] == "succeeded" and data["error"] is None
    assert data["content"] == {"video_url": "http://files/video.mp4",
                               "last_frame_url": "http://files/last_frame.png"}
    assert data["usage"] == {"completion_tokens": 48600, "total_tokens": 48600}
    assert (data["created_at"], data["updated_at"]) == (1700000000, 1700000005)
    assert data["duration"] == 5 and data["frames"] is None and data["framespersecond"] == 24
    assert data["engine"] == "motion" and data["progress"] == 100 and data["draft"] is False
    assert list(data)[:6] == ["id", "model", "status", "error", "content", "usage"]


def test_no_last_frame_url_unless_asked_and_frames_instead_of_duration() -> None:
    data = translate.task_to_wire(make_task(TaskStatus.SUCCEEDED, frames=29, duration=None),
                                  fake_url).model_dump()
    assert data["content"]["last_frame_url"] is None
    assert data["frames"] == 29 and data["duration"] is None


@pytest.mark.parametrize(("status", "has_error"), [
    (TaskStatus.QUEUED, False), (TaskStatus.RUNNING, False), (TaskStatus.CANCELLED, False),
    (TaskStatus.FAILED, True), (TaskStatus.EXPIRED, True)])
def test_unfinished_tasks_have_no_content_and_errors_only_when_failed(status: TaskStatus,
                                                                      has_error: bool) -> None:
    data = translate.task_to_wire(make_task(status), fake_url).model_dump()
    assert data["content"] is None and data["usage"] is None
    assert (data["error"] is not None) == has_error
    if status == TaskStatus.RUNNING:
        assert data["progress"] == 42


def test_list_filters() -> None:
    assert translate.list_filters("succeeded", "flex") == {"statuses": ["succeeded"],
                                                           "service_tier": "flex"}
    with pytest.raises(InvalidInput) as caught:
        translate.list_filters("done", None)
    assert caught.value.param == "filter.status"
    with pytest.raises(InvalidInput) as caught:
        translate.list_filters(None, "gold")
    assert caught.value.param == "filter.service_tier"


# -- images ----------------------------------------------------------------------------------


def image_req(**fields: Any) -> wire.ImagesGenerateRequest:
    return wire.ImagesGenerateRequest.model_validate(
        {"model": "seedream-3-0-t2i-250415", "prompt": "a lighthouse", "image": None,
         "response_format": None, "size": None, "seed": None, "guidance_scale": None,
         "watermark": None, "optimize_prompt": None, "optimize_prompt_options": None,
         "sequential_image_generation": None, "sequential_image_generation_options": None,
         "tools": None, "output_format": None, "layer_decomposition": None, **fields})


def test_image_spec_defaults_and_fields() -> None:
    spec = translate.image_spec_from_wire(image_req())
    assert spec.watermark is True and spec.response_format == "url" and spec.size is None
    spec = translate.image_spec_from_wire(image_req(
        size="512x768", seed=3, guidance_scale=5.5, watermark=False, response_format="b64_json",
        sequential_image_generation="auto", optimize_prompt=True))
    assert (spec.size, spec.seed, spec.guidance_scale) == ("512x768", 3, 5.5)
    assert spec.watermark is False and spec.response_format == "b64_json"
    assert translate.image_spec_from_wire(image_req(size="adaptive")).size is None


def test_image_inputs_are_reference_images_named_by_index() -> None:
    spec = translate.image_spec_from_wire(image_req(image=[PNG_URL, PNG_URL]))
    assert [(i.role, i.param) for i in spec.images] == [("reference_image", "image[0]"),
                                                        ("reference_image", "image[1]")]
    spec = translate.image_spec_from_wire(image_req(image=PNG_URL))
    assert spec.images[0].param == "image"


@pytest.mark.parametrize(("fields", "param"), [
    ({"prompt": "  "}, "prompt"),
    ({"response_format": "jpeg"}, "response_format"),
    ({"size": "huge"}, "size"),
    ({"size": "100x100"}, "size"),
    ({"guidance_scale": 11}, "guidance_scale"),
    ({"seed": -5}, "seed"),
    ({"sequential_image_generation": "always"}, "sequential_image_generation"),
    ({"output_format": "jpeg"}, "output_format"),
    ({"image": ["ftp://x/a.png"]}, "image[0]"),
    ({"image": [PNG_URL] * 15}, "image"),
])
def test_bad_image_input_names_the_parameter(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        translate.image_spec_from_wire(image_req(**fields))
    assert caught.value.param == param


def test_failed_image_task_becomes_an_error() -> None:
    task = make_task(TaskStatus.FAILED)
    task.error_code, task.error_message = "InternalServiceError", "engine process exited with -9"
    err = translate.image_task_error(task, 600)
    assert isinstance(err, EngineFailed) and err.message == "engine process exited with -9"
    task.status = TaskStatus.RUNNING
    assert translate.image_task_error(task, 600).code == "RequestTimeout"


def test_content_item_union_accepts_every_vendor_type() -> None:
    adapter = TypeAdapter(wire.ContentItem)
    for item in (text("x"), image(), {"type": "video_url", "video_url": {"url": "u"}},
                 {"type": "audio_url", "audio_url": {"url": "u"}},
                 {"type": "draft_task", "draft_task": {"id": "cgt-1"}}):
        assert adapter.validate_python(item).type == item["type"]


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

    async def generate_image(self, spec: Any, *, owner_id: str, dialect: str) -> Task:
        task = make_task(self.image_status)
        task.kind, task.model, task.engine = "image", spec.model, "testcard"
        task.usage_tokens = 4096
        task.outputs = [OutputFile("image.png", "k/image.png", "image/png", width=1024,
                                   height=1024)]
        if self.image_status == TaskStatus.FAILED:
            task.error_code, task.error_message = "InternalServiceError", "engine died"
        return task

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
    """Create and get read their own parameters (``routing.lean``); the OpenAPI document
    still shows the body and the path parameter."""
    paths = client.get("/openapi.json").json()["paths"]
    body = paths[TASKS]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
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
    assert ok["data"] == [{"url": "http://files/image.png", "size": "1024x1024"}]
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
