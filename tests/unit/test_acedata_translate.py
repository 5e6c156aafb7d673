"""Unit tests of the AceData dialect: request bodies as ``mcp-seedance`` sends them become
``VideoSpec``s; tasks render as AceData's response shapes, read the way that package reads them.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from framecast.core.errors import InvalidInput
from framecast.core.task import OutputFile, Task, TaskStatus
from framecast.dialects.acedata import translate, wire
from framecast.dialects.acedata.envelope import ENVELOPE, error_code
from framecast.edge.envelope import field_path

PNG = "https://example.com/a.png"
PLACEHOLDER = "https://api.acedata.cloud/health"


def seedance_body(**fields: Any) -> dict[str, Any]:
    """The body ``seedance_generate_video_from_image`` (2026.4.30.0) posts, defaults and all."""
    body: dict[str, Any] = {
        "model": "doubao-seedance-1-0-pro-250528",
        "content": [{"type": "text", "text": "a slow push in"},
                    {"type": "image_url", "image_url": {"url": PNG}, "role": "first_frame"}],
        "resolution": "720p", "ratio": "16:9", "service_tier": "default",
        "return_last_frame": False, "execution_expires_after": 172800, "duration": 5,
        "callback_url": PLACEHOLDER}
    body.update(fields)
    return body


def spec_of(body: dict[str, Any]) -> Any:
    return translate.video_spec_from_wire(wire.VideosRequest.model_validate(body))


def bad_param(body: dict[str, Any]) -> str | None:
    """The field a client is told is at fault (the core's name in this API's words)."""
    with pytest.raises(InvalidInput) as caught:
        spec_of(body)
    return ENVELOPE.param(caught.value.param)


def test_the_packages_body_becomes_a_spec() -> None:
    spec = spec_of(seedance_body())
    assert (spec.model, spec.prompt, spec.resolution, spec.ratio, spec.duration, spec.frames) \
        == ("doubao-seedance-1-0-pro-250528", "a slow push in", "720p", "16:9", 5, None)
    assert (spec.service_tier, spec.execution_expires_after, spec.fps) == ("default", 172800, 24)
    assert [(i.role, i.url, i.param) for i in spec.images] == \
        [("first_frame", PNG, "content[1].image_url.url")]
    assert spec.seed is None and spec.callback_url is None   # the placeholder is not stored


def test_all_roles_and_the_text_to_video_spelling_of_camera_fixed() -> None:
    content = [{"type": "text", "text": "morph"},
               {"type": "image_url", "image_url": {"url": PNG}},
               {"type": "image_url", "image_url": {"url": PNG}, "role": "last_frame"}]
    spec = spec_of(seedance_body(content=content, camerafixed=True, watermark=True, seed=7,
                                 frames=33, duration=None, generate_audio=True))
    assert [i.role for i in spec.images] == ["first_frame", "last_frame"]
    assert (spec.camera_fixed, spec.watermark, spec.seed, spec.frames, spec.duration) == \
        (True, True, 7, 33, None)
    assert spec.generate_audio is True
    assert spec_of(seedance_body(camerafixed=True, camera_fixed=True)).camera_fixed is True
    # the two spellings disagreeing is refused, as on AI/ML (one rule in the core)
    with pytest.raises(InvalidInput, match="`camera_fixed` and `camerafixed` disagree") as err:
        spec_of(seedance_body(camerafixed=True, camera_fixed=False))
    assert err.value.param == "camera_fixed"


def test_references_duration_auto_and_a_real_callback() -> None:
    refs = [{"type": "image_url", "image_url": {"url": PNG}, "role": "reference_image"}] * 2
    spec = spec_of(seedance_body(content=[{"type": "text", "text": "style"}, *refs],
                                 duration=-1, callback_url="https://hooks.example/x"))
    assert [i.role for i in spec.images] == ["reference_image"] * 2
    assert spec.duration is None and spec.callback_url == "https://hooks.example/x"


def test_sync_or_async() -> None:
    def is_async(**fields: Any) -> bool:
        return translate.is_async(wire.VideosRequest.model_validate(seedance_body(**fields)))

    assert is_async()                                   # the placeholder forces async
    assert is_async(callback_url=None, **{"async": True})
    assert not is_async(callback_url=None)
    assert translate.callback_for(PLACEHOLDER + "/") is None
    assert translate.callback_for("  ") is None


@pytest.mark.parametrize(("fields", "param"), [
    ({"content": []}, "content"),
    ({"content": [{"type": "text"}]}, "content[0].text"),
    ({"content": [{"type": "audio_url"}]}, "content[0].type"),
    ({"content": [{"type": "image_url"}]}, "content[0].image_url.url"),
    ({"content": [{"type": "image_url", "image_url": {"url": PNG}, "role": "hero"}]},
     "content[0].role"),
    ({"content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]},
     "content[0].image_url.url"),
    ({"content": [{"type": "image_url", "image_url": {"url": "data:text/plain;base64,AA"}}]},
     "content[0].image_url.url"),
    ({"resolution": "4k"}, "resolution"),
    ({"ratio": "2:1"}, "ratio"),
    ({"service_tier": "fast"}, "service_tier"),
    ({"callback_url": "ftp://x.example/hook"}, "callback_url"),
    ({"duration": 31}, "duration"),            # (13 on a 1.0 model: refused at create)
    ({"duration": None, "frames": 31}, "frames"),
    ({"frames": 29}, "frames"),                         # with duration 5: exclusive
    ({"seed": 2**32}, "seed"),
    ({"execution_expires_after": 60}, "execution_expires_after"),
    ({"model": ""}, "model"),
    ({"content": [{"type": "image_url", "image_url": {"url": PNG}, "role": "last_frame"}]},
     "content"),
])
def test_bad_bodies_name_the_field(fields: dict[str, Any], param: str) -> None:
    assert bad_param(seedance_body(**fields)) == param


def test_wire_types_and_aliases() -> None:
    assert wire.VideosRequest.model_validate(seedance_body(**{"async": True})).async_ is True
    with pytest.raises(ValidationError) as caught:
        wire.VideosRequest.model_validate(seedance_body(duration="five"))
    assert field_path(("body", *caught.value.errors()[0]["loc"])) == "duration"
    assert field_path(("body", "content", 1, "image_url", "url")) == "content[1].image_url.url"
    assert field_path(("body",)) == "body"


def test_task_queries() -> None:
    def ids(**body: Any) -> list[str]:
        return translate.task_ids_of(wire.TasksRequest.model_validate(body))

    assert ids(id="a") == ["a"]                               # action defaults to retrieve
    assert ids(ids=["a", "b", "a"], action="retrieve_batch") == ["a", "b"]
    for body, param in (({"action": "retrieve"}, "id"), ({"action": "retrieve_batch"}, "ids"),
                        ({"id": "a", "action": "delete"}, "action"),
                        ({"ids": ["x"] * 101, "action": "retrieve_batch"}, "ids")):
        with pytest.raises(InvalidInput) as caught:
            ids(**body)
        assert caught.value.param == param


# -- rendering ------------------------------------------------------------------------------


def task(status: TaskStatus, **fields: Any) -> Task:
    spec = {"resolution": "480p", "ratio": "16:9", "duration": 2, "frames": None, "fps": 24,
            "seed": 11, "execution_expires_after": 172800, "return_last_frame": True,
            "generate_audio": False, "width": 864, "height": 480, "frames_total": 49}
    base: dict[str, Any] = dict(
        id="cgt-20260101000000-abcdefgh", owner_id="o", kind="video",
        model="doubao-seedance-1-0-pro-250528", engine="motion", status=status, spec=spec,
        dialect="acedata", progress=0.4, created_at=1_700_000_000.5,
        updated_at=1_700_000_009.0, seed=11, usage_tokens=19845)
    if status == TaskStatus.SUCCEEDED:
        base["outputs"] = [OutputFile("video.mp4", "k/video.mp4", "video/mp4"),
                           OutputFile("last_frame.png", "k/last.png", "image/png")]
        base["finished_at"] = 1_700_000_009.0
    base.update(fields)
    return Task(**base)


def file_url(t: Task, name: str) -> str | None:
    return f"https://files.example/{t.id}/{name}" if t.output(name) else None


def as_client(record: dict[str, Any]) -> tuple[bool, Any]:
    """What mcp-seedance 2026.4.30.0 does with an answer: ``core/client.py`` logs
    ``result["data"].get(...)`` when ``success`` is true (a list there would raise), and
    ``seedance_get_task`` reads ``response.success``."""
    if record.get("success"):
        data = record.get("data", {})
        data.get("status")
        data.get("content", {}).get("video_url")
    return bool(record.get("response", {}).get("success", False)), record.get("state")


def test_a_succeeded_task_record() -> None:
    record = wire.dump(translate.task_record(task(TaskStatus.SUCCEEDED), file_url))
    assert as_client(record) == (True, "succeeded")
    assert "success" not in record and record["id"] == record["task_id"]
    video = record["response"]["data"][0]
    assert video == record["data"][0]
    assert video["content"] == {
        "video_url": "https://files.example/cgt-20260101000000-abcdefgh/video.mp4",
        "last_frame_url": "https://files.example/cgt-20260101000000-abcdefgh/last_frame.png"}
    assert (video["status"], video["duration"], video["framespersecond"], video["progress"]) \
        == ("succeeded", 2, 24, 100)
    assert video["usage"] == {"completion_tokens": 19845, "total_tokens": 19845}
    assert "frames" not in video and video["created_at"] == 1_700_000_000


@pytest.mark.parametrize(("status", "state", "done", "code"), [
    (TaskStatus.QUEUED, "pending", None, None),
    (TaskStatus.RUNNING, "processing", None, None),
    (TaskStatus.FAILED, "failed", False, "EngineFailed"),
    (TaskStatus.EXPIRED, "failed", False, "TaskExpired"),
    (TaskStatus.CANCELLED, "cancelled", False, "cancelled"),
])
def test_unfinished_and_unsuccessful_task_records(status: TaskStatus, state: str,
                                                  done: bool | None, code: str | None) -> None:
    failed = {"error_code": "EngineFailed", "error_message": "boom"} \
        if status == TaskStatus.FAILED else {}
    record = wire.dump(translate.task_record(task(status, **failed), file_url))
    assert as_client(record) == (False, state)
    if done is None:
        assert "response" not in record and record["progress"] == 40
    else:
        assert record["response"]["success"] is False
        assert record["response"]["error"]["code"] == code
    assert "content" not in record["data"][0]


def test_submission_sync_answer_and_webhook_body() -> None:
    running = task(TaskStatus.RUNNING)
    submitted = wire.dump(translate.submitted(running))
    assert set(submitted) == {"success", "task_id", "trace_id"} and submitted["success"]
    assert submitted["trace_id"] == translate.trace_id_for(running.id)   # stable per task
    late = wire.dump(translate.finished(running, file_url, waited_s=600))
    assert late["success"] is False and late["error"]["code"] == "timeout"
    done = task(TaskStatus.SUCCEEDED)

    class Service:
        def file_url(self, t: Task, name: str) -> str | None:
            return file_url(t, name)

    body = translate.webhook_body(done, Service())  # type: ignore[arg-type]
    assert body["success"] is True and body["task_id"] == done.id
    assert body["data"][0]["content"]["video_url"].endswith("/video.mp4")


def test_batch_keeps_the_asked_order_and_leaves_out_unknown_ids() -> None:
    a = task(TaskStatus.QUEUED, id="a")
    b = task(TaskStatus.SUCCEEDED, id="b")
    answer = wire.dump(translate.batch([b, a], ["a", "x", "b"], file_url))
    assert [item["id"] for item in answer["items"]] == ["a", "b"] and answer["count"] == 2


def test_image_tasks_render_too() -> None:
    image = task(TaskStatus.SUCCEEDED, kind="image", id="img-1",
                 outputs=[OutputFile("image.png", "k/image.png", "image/png")],
                 spec={"size": "512x512", "seed": 3})
    obj = wire.dump(translate.task_object(image, file_url))
    assert obj["content"] == {"image_url": "https://files.example/img-1/image.png"}
    assert obj["size"] == "512x512" and "framespersecond" not in obj


def test_error_codes_follow_the_status() -> None:
    assert [error_code(s) for s in (400, 401, 403, 404, 413, 429, 500, 503)] == [
        "bad_request", "invalid_token", "forbidden", "not_found", "request_too_large",
        "too_many_requests", "api_error", "api_error"]
