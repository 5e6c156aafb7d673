"""Unit tests of ``dialects/ark/translate.py``: flags and nulls, precedence, roles, the
parameter every bad input is blamed on, task rendering, images."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from framecast.core.errors import (
    EngineFailed,
    InvalidInput,
    MissingInput,
)
from framecast.core.task import TaskStatus
from framecast.dialects.ark import translate, wire
from framecast.dialects.ark.envelope import ENVELOPE
from tests.unit.support.ark import PNG_URL, fake_url, image, make_task, spec_of, text


def bad_param(*content: dict[str, Any], **fields: Any) -> str | None:
    """The field an Ark client is told is at fault (the core's name in Ark's words)."""
    with pytest.raises(InvalidInput) as caught:
        spec_of(*content, **fields)
    assert caught.value.status == 400
    return ENVELOPE.param(caught.value.param)


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


def test_video_and_audio_items_are_reference_clips_named_by_index() -> None:
    spec = spec_of(text("x"), {"type": "video_url", "video_url": {"url": "https://v/a.mp4"}},
                   {"type": "audio_url", "audio_url": {"url": "https://a/a.mp3"},
                    "role": "reference_audio"},
                   {"type": "video_url", "video_url": {"url": "asset://asset-1"}})
    assert [(m.role, m.url, m.param) for m in spec.media] == [
        ("reference_video", "https://v/a.mp4", "content[1].video_url.url"),
        ("reference_audio", "https://a/a.mp3", "content[2].audio_url.url"),
        ("reference_video", "asset://asset-1", "content[3].video_url.url")]   # refused at create
    assert spec_of({"type": "audio_url", "audio_url": {"url": "https://a/a.mp3"}}).prompt == ""


def test_duration_minus_one_reaches_the_model_which_decides() -> None:
    # -1 is kept for the model's contract: refused where it has no automatic duration,
    # else the model's default length (service/resolve.py)
    assert spec_of(text("x --dur -1")).duration == -1
    assert spec_of(text("x"), duration=-1).duration == -1


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
    ([text("x")], {"duration": 31}, "duration"),      # past every model (13: at create)
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
    ([text("x"), {"type": "video_url", "video_url": {}}], {}, "content[1].video_url.url"),
    ([text("x"), {"type": "video_url", "video_url": {"url": "ftp://v/a.mp4"}}], {},
     "content[1].video_url.url"),
    ([{"type": "audio_url", "audio_url": {"url": "https://a/a.mp3"}, "role": "first_frame"}],
     {}, "content[0].role"),
    ([text("x"), {"type": "draft_task", "draft_task": {"id": "cgt-1"}}], {}, "content"),
    ([{"type": "draft_task", "draft_task": {}}], {}, "content[0].draft_task.id"),
    ([{"type": "draft_task", "draft_task": {"id": "cgt-1"}}], {"draft": True}, "draft"),
    ([text("x")], {"omni_reference_task_type": "remix"}, "omni_reference_task_type"),
    ([text("x")], {"output_format": "mov"}, "output_format"),
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
    assert spec.sequential and spec.max_images is None     # the set's size: at create
    spec = translate.image_spec_from_wire(image_req(
        sequential_image_generation="auto", size="2K", output_format="JPEG",
        sequential_image_generation_options={"max_images": 15},
        optimize_prompt_options={"mode": "standard"}))
    assert (spec.sequential, spec.max_images, spec.size, spec.output_format) == (
        True, 15, "2K", "jpeg")
    spec = translate.image_spec_from_wire(image_req(sequential_image_generation="disabled"))
    assert not spec.sequential and spec.output_format is None


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
    ({"size": "2K 16:9"}, "size"),
    ({"guidance_scale": 11}, "guidance_scale"),
    ({"seed": -5}, "seed"),
    ({"sequential_image_generation": "always"}, "sequential_image_generation"),
    ({"output_format": "gif"}, "output_format"),
    ({"sequential_image_generation_options": {"max_images": 4}},
     "sequential_image_generation_options.max_images"),
    ({"sequential_image_generation": "auto",
      "sequential_image_generation_options": {"max_images": 0}},
     "sequential_image_generation_options.max_images"),
    ({"sequential_image_generation": "auto",
      "sequential_image_generation_options": {"max_images": 16}},
     "sequential_image_generation_options.max_images"),
    ({"optimize_prompt_options": {"mode": "turbo"}}, "optimize_prompt_options.mode"),
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
