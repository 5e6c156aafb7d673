"""The Wiro dialect without a server: parameters → specs (Wiro's defaults and error wording),
tasks → Wiro's task item and statuses, WebSocket messages, the signature recipe."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
from types import SimpleNamespace
from typing import Any

import pytest

from framecast.core.errors import InvalidInput, MissingInput, NotFound
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.core.task import OutputFile, Task, TaskStatus
from framecast.db.task_extras import TaskExtras
from framecast.dialects.wiro import translate
from framecast.dialects.wiro.auth import signature
from framecast.dialects.wiro.envelope import ENVELOPE, wiro_message
from framecast.dialects.wiro.params import Params, Upload
from framecast.dialects.wiro.socket import SocketTracker
from framecast.service.registry import Registry

REGISTRY = Registry.load(None)
I2V = translate.resolve_model(REGISTRY, "ByteDance", "image-to-video-seedance-v1")
T2V = translate.resolve_model(REGISTRY, "bytedance", "text-to-video-seedance-v1")
V3 = translate.resolve_model(REGISTRY, "bytedance", "text-to-image-seedream-v3")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
NOW = 1_800_000_000.0


def p(**values: Any) -> Params:
    """Parameters as a JSON client would send them."""
    return Params(values=values)


# ---- models -------------------------------------------------------------------------------

def test_model_slugs_resolve_case_insensitively_with_a_fallback() -> None:
    assert I2V.entry.id == "image-to-video-seedance-v1" and I2V.name.startswith("ByteDance/")
    assert V3.entry.kind == "image"
    assert translate.resolve_model(REGISTRY, "anyone", "seedance-1-0-pro").name == \
        "seedance-1-0-pro"
    with pytest.raises(NotFound, match="slug-owner-project-not-exist"):
        translate.resolve_model(REGISTRY, "ByteDance", "nope")


# ---- video parameters ---------------------------------------------------------------------

def test_seedance_defaults_match_the_tool_page() -> None:
    spec = translate.video_spec(I2V, p(inputImageUrl="https://x.test/a.jpg", prompt="ski",
                                       seed=None, watermark="false", camerafixed="false"))
    assert (spec.resolution, spec.ratio, spec.duration, spec.fps) == ("480p", "16:9", 5, 24)
    assert (spec.seed, spec.watermark, spec.camera_fixed) == (None, False, False)
    assert spec.first_frame is not None and spec.first_frame.param == "inputImageUrl"
    assert spec.model == "ByteDance/image-to-video-seedance-v1"


def test_seedance_strings_become_typed_values() -> None:
    spec = translate.video_spec(T2V, p(prompt="a fox", resolution="720p", ratio="9:21",
                                       duration="10", fps="16", watermark="true", seed="42",
                                       camerafixed="TRUE", callbackUrl="https://h.test/cb"))
    assert (spec.resolution, spec.ratio, spec.duration, spec.fps) == ("720p", "9:21", 10, 16)
    assert (spec.seed, spec.watermark, spec.camera_fixed) == (42, True, True)
    assert spec.callback_url == "https://h.test/cb"
    for random_seed in (-1, "-1", "", "false"):
        assert translate.video_spec(T2V, p(prompt="x", seed=random_seed)).seed is None


def test_an_uploaded_file_becomes_a_data_uri() -> None:
    params = Params(values={"inputImageUrl": "", "prompt": "x"},
                    files={"inputImage": [Upload("a.png", "image/png", PNG)]})
    spec = translate.video_spec(I2V, params)
    assert spec.first_frame.url.startswith("data:image/png;base64,")
    assert spec.first_frame.param == "inputImage"
    assert params.echo()["inputImage"] == "a.png (40 bytes)"


@pytest.mark.parametrize(("values", "field", "fragment"), [
    ({"resolution": "1080p"}, "resolution", "must be one of 480p, 720p"),
    ({"ratio": "2:1"}, "ratio", "must be one of 16:9"),
    ({"duration": "7"}, "duration", "must be one of 5, 10"),
    ({"fps": "30"}, "fps", "must be one of 24, 16"),
    ({"watermark": "maybe"}, "watermark", "must be true or false"),
    ({"camerafixed": "2"}, "camerafixed", "must be true or false"),
    ({"seed": "abc"}, "seed", "must be integer"),
    ({"seed": "1.5"}, "seed", "must be integer"),
    ({"seed": "-2"}, "seed", "must be between -1 and 4294967295"),
    ({"callbackUrl": "ftp://x"}, "callbackUrl", "must be an http(s) URL"),
    ({"inputImageUrl": "image.jpg"}, "inputImageUrl", "http(s) URL or a data:image/ URI"),
    ({"prompt": ["a"]}, "prompt", "must be a string, not a JSON list"),
    ({"ratio": {"w": 16}}, "ratio", "must be a string, not a JSON object"),
])
def test_bad_video_parameters_name_the_field(values: dict, field: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        translate.video_spec(T2V if field != "inputImageUrl" else I2V,
                             p(**{"prompt": "x", **values}))
    assert caught.value.param == field
    assert caught.value.message.startswith(f"Request parameter [{field}]")
    assert fragment in caught.value.message


def test_image_models_need_an_image_and_text_models_refuse_one() -> None:
    with pytest.raises(MissingInput, match=r"\[inputImageUrl\] required"):
        translate.video_spec(I2V, p(prompt="x", inputImageUrl=""))
    with pytest.raises(InvalidInput, match="text-to-video"):
        translate.video_spec(T2V, p(prompt="x", inputImageUrl="https://x.test/a.png"))
    with pytest.raises(MissingInput, match=r"\[prompt\] required"):
        translate.video_spec(T2V, p(prompt=""))
    with pytest.raises(InvalidInput, match="at most 1 image"):
        translate.video_spec(I2V, Params(values={"inputImageUrl": "https://x.test/a.png"},
                                         files={"inputImage": [Upload("a", "", PNG)]}))


# ---- image parameters ---------------------------------------------------------------------

def test_seedream_v3_parameters() -> None:
    spec = translate.image_spec(V3, p(prompt="lake", size="1248x832", guidanceScale=2.5,
                                      seed=0, watermark="false"))
    assert (spec.size, spec.guidance_scale, spec.seed, spec.watermark) == \
        ("1248x832", 2.5, None, False)
    assert translate.image_spec(V3, p(prompt="x", seed="7")).seed == 7
    v45 = translate.resolve_model(REGISTRY, "bytedance", "seedream-v4-5")
    spec = translate.image_spec(v45, p(prompt="x", width="1024", height="768",
                                       inputImage="https://a.test/1.png,https://a.test/2.png"))
    assert spec.size == "1024x768" and [i.role for i in spec.images] == ["reference_image"] * 2


@pytest.mark.parametrize(("values", "field", "fragment"), [
    ({"size": "999x999"}, "size", "must be one of 1024x1024"),
    ({"guidanceScale": "11"}, "guidanceScale", "must be between 1 and 10"),
    ({"guidanceScale": "high"}, "guidanceScale", "must be integer or float"),
    ({"seed": "2147483648"}, "seed", "must be between -1 and 2147483647"),
    ({"width": "1024"}, "height", "required"),
    ({"maxImages": "99"}, "maxImages", "must be between 1 and 15"),
    ({"prompt": None}, "prompt", "required"),
])
def test_bad_image_parameters_name_the_field(values: dict, field: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        translate.image_spec(V3, p(**{"prompt": "x", **values}))
    assert caught.value.param == field and fragment in caught.value.message


def test_core_errors_are_worded_for_wiro() -> None:
    assert wiro_message("`framespersecond` must be 24", ENVELOPE.param("fps")) \
        == "Request parameter [fps] is not valid: framespersecond must be 24"
    assert wiro_message("Request parameter [x] required", ENVELOPE.param("x")) == \
        "Request parameter [x] required"


# ---- tasks on the wire ------------------------------------------------------------------

def task(status: TaskStatus, **extra: Any) -> Task:
    """A Wiro video task in ``status``."""
    fields: dict[str, Any] = {
        "id": "cgt-1", "owner_id": "key-1", "kind": "video",
        "model": "ByteDance/image-to-video-seedance-v1", "engine": "motion", "status": status,
        "spec": {"prompt": "ski", "resolution": "480p", "duration": 5, "fps": 24},
        "dialect": "wiro", "created_at": NOW, "updated_at": NOW, "callback_url": None}
    if status != TaskStatus.QUEUED:
        fields["started_at"] = NOW + 1
    if status.terminal:
        fields["finished_at"] = NOW + 7
    if status == TaskStatus.SUCCEEDED:
        fields["outputs"] = [OutputFile("video.mp4", "tasks/cgt-1/1/video.mp4", "video/mp4",
                                        1234)]
    fields.update(extra)
    return Task(**fields)


EXTRAS = TaskExtras("cgt-1", "wiro", "TOKEN", {"slugowner": "ByteDance",
                                               "slugproject": "image-to-video-seedance-v1",
                                               "parameters": {"prompt": "ski"}, "price": 0.06})


def file_url(t: Task, name: str) -> str:
    return f"https://files/{t.id}/{name}"


@pytest.mark.parametrize(("status", "extra", "wiro", "pexit"), [
    (TaskStatus.QUEUED, {}, "task_queue", ""),
    (TaskStatus.RUNNING, {}, "task_preprocess_start", ""),    # inputs still being prepared
    (TaskStatus.RUNNING, {"total_steps": 10}, "task_start", ""),
    (TaskStatus.RUNNING, {"step": 6, "total_steps": 10, "progress": 0.6}, "task_output", ""),
    (TaskStatus.SUCCEEDED, {}, "task_postprocess_end", "0"),
    (TaskStatus.FAILED, {"error_code": "X", "error_message": "boom"}, "task_postprocess_end",
     "1"),
    (TaskStatus.CANCELLED, {}, "task_cancel", "1"),
    (TaskStatus.EXPIRED, {}, "task_cancel", "1"),
])
def test_status_mapping(status: TaskStatus, extra: dict, wiro: str, pexit: str) -> None:
    item = translate.task_item(task(status, **extra), EXTRAS, file_url, now=NOW + 3)
    assert (item.status, item.pexit) == (wiro, pexit)
    if status == TaskStatus.FAILED:
        assert item.debugerror == "X: boom" and item.outputs == []


def test_every_number_is_a_string_and_cost_comes_from_the_price() -> None:
    item = translate.task_item(task(TaskStatus.SUCCEEDED), EXTRAS, file_url)
    data = item.model_dump(mode="json")
    for name in ("starttime", "endtime", "elapsedseconds", "totalcost", "cps", "createtime",
                 "size", "progress"):
        assert isinstance(data[name], str), name
    assert (data["elapsedseconds"], data["totalcost"], data["cps"]) == \
        ("6.0000", "0.060000000000", "0.010000000000")
    assert data["outputs"][0]["size"] == "1234" and data["size"] == "1234"
    assert data["outputs"][0]["url"] == "https://files/cgt-1/video.mp4"
    assert data["socketaccesstoken"] == "TOKEN" and data["modelslugowner"] == "ByteDance"
    deleted = TaskExtras("cgt-1", "wiro", "TOKEN", {**EXTRAS.data, "files_deleted": True})
    assert translate.task_item(task(TaskStatus.SUCCEEDED), deleted, file_url).outputs == []
    failed = translate.task_item(task(TaskStatus.FAILED), EXTRAS, file_url)
    assert failed.totalcost == "0.000000000000"


def test_price_by_resolution_and_per_image() -> None:
    video = VideoSpec(model="m", resolution="480p", duration=5, fps=24)   # a resolved spec
    assert translate.price(video, {"480p": 0.012}, 0.03) == pytest.approx(0.06)
    image = ImageSpec(model="m")
    assert translate.price(image, {"480p": 0.012}, 0.03) == 0.03


def test_webhook_body_is_the_detail_response() -> None:
    store: dict[str, TaskExtras] = {"cgt-1": EXTRAS}
    service = SimpleNamespace(record_of=store.get, file_url=file_url)
    body = translate.webhook_body(task(TaskStatus.SUCCEEDED), service)
    assert body["result"] is True and body["total"] == "1"
    assert body["tasklist"][0]["status"] == "task_postprocess_end"


# ---- WebSocket ------------------------------------------------------------------------------

def test_socket_messages_follow_the_lifecycle_once_each() -> None:
    tracker = SocketTracker(EXTRAS)
    seen: list[str] = []
    percents: list[int] = []
    for state in (task(TaskStatus.QUEUED), task(TaskStatus.RUNNING),
                  task(TaskStatus.RUNNING, step=3, total_steps=10, progress=0.3),
                  task(TaskStatus.RUNNING, step=3, total_steps=10, progress=0.3),
                  task(TaskStatus.RUNNING, step=7, total_steps=10, progress=0.7),
                  task(TaskStatus.SUCCEEDED, step=10, total_steps=10, progress=1.0)):
        for message in tracker.advance(state, file_url, now=NOW + 5):
            assert message["id"] == "cgt-1" and message["tasktoken"] == "TOKEN"
            assert message["result"] is True
            seen.append(message["type"])
            if message["type"] == "task_output":
                assert message["message"]["type"] == "progressGenerate"
                percents.append(int(message["message"]["percentage"]))
            if message["type"] == "task_postprocess_end":
                assert message["message"][0]["name"] == "video.mp4"
    assert seen[:7] == ["task_queue", "task_accept", "task_preprocess_start",
                        "task_preprocess_end", "task_assign", "task_start", "task_output"]
    assert seen[-4:] == ["task_output_full", "task_end", "task_postprocess_start",
                         "task_postprocess_end"]
    assert percents == [30, 70, 100]


def test_a_cancelled_task_ends_with_task_cancel() -> None:
    tracker = SocketTracker(EXTRAS)
    kinds = [m["type"] for state in (task(TaskStatus.QUEUED), task(TaskStatus.CANCELLED))
             for m in tracker.advance(state, file_url)]
    assert kinds == ["task_queue", "task_cancel"]


# ---- the signature recipe -----------------------------------------------------------------

def test_signature_is_hmac_of_secret_plus_nonce_keyed_by_the_api_key() -> None:
    expected = hmac.new(b"APIKEY", b"SECRET1700000000", hashlib.sha256).hexdigest()
    assert signature("APIKEY", "SECRET", "1700000000") == expected


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_signature_matches_the_docs_openssl_recipe() -> None:
    # echo -n "${YOUR_API_SECRET}${NONCE}" | openssl dgst -sha256 -hmac "${YOUR_API_KEY}"
    out = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", "APIKEY"],
                         input=b"SECRET1700000000", capture_output=True, check=True)
    assert out.stdout.decode().split()[-1] == signature("APIKEY", "SECRET", "1700000000")


def test_a_data_uri_keeps_its_comma_in_a_list_of_urls() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    assert translate.split_urls(f"{png}, https://x.test/a.png ,") == [png,
                                                                      "https://x.test/a.png"]
    spec = translate.video_spec(I2V, p(prompt="x", inputImageUrl=png))
    assert [i.url for i in spec.images] == [png]
