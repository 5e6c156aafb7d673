"""Unit tests of ``dialects/aiml/translate.py``: per-model schemas and defaults, both camera
spellings, the field every bad input is blamed on, generations on the wire."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from framecast.core.errors import (
    InvalidInput,
    MissingInput,
)
from framecast.core.task import OutputFile, TaskStatus
from framecast.dialects.aiml import translate, wire
from framecast.dialects.aiml.envelope import ENVELOPE
from framecast.service.registry import Registry
from tests.unit.support.aiml import (
    IMG,
    LITE_I2V,
    LITE_T2V,
    PRO_15,
    PRO_FAST,
    PRO_I2V,
    PRO_T2V,
    file_url,
    make_task,
    spec_of,
)


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
