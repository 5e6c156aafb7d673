"""Unit tests of the OpenAI dialect's translation (``translate.py``, ``body.py``,
``images.py``, ``paging.py``) and its thumbnails: models and sizes, uploads, the field every
bad input is blamed on, videos and images on the wire, cursor paging."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image
from starlette.datastructures import Headers, UploadFile

from framecast.core.errors import (
    EngineFailed,
    InvalidInput,
    MissingInput,
    NotFound,
    PayloadTooLarge,
    StorageError,
)
from framecast.core.spec import ImageSpec
from framecast.core.task import Task, TaskStatus
from framecast.dialects.openai import DIALECT, body, envelope, images, paging, translate, wire
from framecast.media import thumbnail
from framecast.media.video import VideoWriter
from tests.unit.support.openai import IMG, image_task, make_task, png_bytes, spec_of


def bad_param(**data: Any) -> str | None:
    """The field a client is told is at fault (the core's name in this API's words)."""
    with pytest.raises(InvalidInput) as caught:
        spec_of(**data)
    return envelope.ENVELOPE.param(caught.value.param)


# -- models and sizes ----------------------------------------------------------------------


@pytest.mark.parametrize(("given", "model"), [
    (None, "seedance-1-5-pro"), ("", "seedance-1-5-pro"), ("sora-2", "seedance-1-5-pro"),
    ("sora-2-pro", "seedance-1-5-pro"), ("sora-2-2025-10-06", "seedance-1-5-pro"),
    ("seedance-1-0-lite-i2v", "seedance-1-0-lite-i2v"),
    ("bytedance/seedance-1-0-pro-i2v", "bytedance/seedance-1-0-pro-i2v"),
])
def test_video_model_mapping(given: str | None, model: str) -> None:
    assert translate.video_model(given) == model


@pytest.mark.parametrize(("size", "family", "expected"), [
    ("1280x720", "seedance-1.5", ("720p", "16:9")),        # Sora sizes, exact in 1.5
    ("720x1280", "seedance-1.5", ("720p", "9:16")),
    ("864x496", "seedance-1.5", ("480p", "16:9")),
    ("1248x704", "seedance-1.0", ("720p", "16:9")),         # exact in 1.0
    ("1280x720", "seedance-1.0", ("720p", "16:9")),         # nearest: short side 720
    ("720x1280", "seedance-1.0", ("720p", "9:16")),
    ("1792x1024", "seedance-1.0", ("1080p", "16:9")),       # short side 1024 → 1080p
    ("1024x1792", "seedance-1.5", ("1080p", "9:16")),
    ("640x640", "seedance-1.0", ("480p", "1:1")),
    ("1000x1000", "seedance-1.0", ("1080p", "1:1")),
    ("610x813", "seedance-1.5", ("720p", "3:4")),
    ("2176x928", "seedance-1.0", ("1080p", "21:9")),
    ("416 X 960", "seedance-1.0", ("480p", "9:21")),
])
def test_size_mapping(size: str, family: str, expected: tuple[str, str]) -> None:
    assert translate.size_to_resolution_ratio(size, family) == expected


@pytest.mark.parametrize("size", ["big", "1280x", "0x720", "99999x100", "12.5x10", "-5x5"])
def test_bad_sizes_name_size(size: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        translate.size_to_resolution_ratio(size, "seedance-1.0")
    assert caught.value.param == "size"


def test_default_create_is_seedance_defaults() -> None:
    spec = spec_of()
    assert spec.model == "seedance-1-5-pro"
    assert (spec.resolution, spec.ratio, spec.duration, spec.frames) == (None, None, None, None)


def test_sora_style_create_maps_size_and_seconds() -> None:
    spec = spec_of(model="sora-2", seconds="8", size="720x1280")
    assert (spec.model, spec.resolution, spec.ratio, spec.duration) == \
        ("seedance-1-5-pro", "720p", "9:16", 8)


def test_seedance_fields_win_over_size() -> None:
    spec = spec_of(model="seedance-1-0-lite-i2v", size="1280x720", resolution="480p",
                   ratio="1:1")
    assert (spec.resolution, spec.ratio) == ("480p", "1:1")
    assert spec_of(size="1280x720", resolution="480p").ratio == "16:9"


def test_multipart_strings_become_typed_fields() -> None:
    spec = spec_of(seconds="2", seed="42", camera_fixed="true", watermark="false",
                   return_last_frame="1", fps="16", generate_audio="true",
                   service_tier="flex", callback_url="https://hooks.example.com/v")
    assert (spec.duration, spec.seed, spec.camera_fixed, spec.watermark) == (2, 42, True, False)
    assert (spec.return_last_frame, spec.fps, spec.generate_audio) == (True, 16, True)
    assert (spec.service_tier, spec.callback_url) == ("flex", "https://hooks.example.com/v")


def test_frames_instead_of_seconds() -> None:
    spec = spec_of(frames="29")
    assert (spec.frames, spec.duration) == (29, None)


@pytest.mark.parametrize("reference", [
    IMG, "data:image/png;base64,iVBORw0KGgo=", {"image_url": IMG}])
def test_input_reference_forms(reference: Any) -> None:
    spec = spec_of(prompt="", input_reference=reference)
    url = reference["image_url"] if isinstance(reference, dict) else reference
    assert [(i.role, i.url, i.param) for i in spec.images] == \
        [("first_frame", url, "input_reference")]


def test_first_last_and_reference_images() -> None:
    spec = spec_of(input_reference=IMG, last_frame_url=IMG)
    assert [(i.role, i.param) for i in spec.images] == \
        [("first_frame", "input_reference"), ("last_frame", "last_frame_url")]
    refs = spec_of(reference_image_urls=[IMG, IMG]).images
    assert [(i.role, i.param) for i in refs] == [("reference_image", "reference_image_urls[0]"),
                                                 ("reference_image", "reference_image_urls[1]")]
    assert len(spec_of(reference_image_urls=IMG).images) == 1     # one multipart value


@pytest.mark.parametrize(("data", "param"), [
    ({"prompt": None}, "prompt"),
    ({"prompt": "  "}, "prompt"),
    ({"seconds": "4.5"}, "seconds"),
    ({"seconds": "four"}, "seconds"),
    ({"seconds": True}, "seconds"),
    ({"seconds": 1}, "seconds"),
    ({"seconds": "13"}, "seconds"),
    ({"size": "wide"}, "size"),
    ({"frames": 30}, "frames"),
    ({"frames": 29, "seconds": 2}, "frames"),
    ({"fps": 30}, "fps"),
    ({"resolution": "4k"}, "resolution"),
    ({"ratio": "2:1"}, "ratio"),
    ({"camera_fixed": "maybe"}, "camera_fixed"),
    ({"seed": 2**32}, "seed"),
    ({"seed": "lucky"}, "seed"),
    ({"service_tier": "priority"}, "service_tier"),
    ({"callback_url": "data:image/png;base64,AA=="}, "callback_url"),
    ({"input_reference": "ftp://example.com/a.png"}, "input_reference"),
    ({"input_reference": "data:text/plain;base64,eA=="}, "input_reference"),
    ({"input_reference": {"file_id": "file-123"}}, "input_reference.file_id"),
    ({"last_frame_url": IMG}, "last_frame_url"),
    ({"input_reference": IMG, "reference_image_urls": [IMG]}, "reference_image_urls"),
    ({"reference_image_urls": [IMG] * 5}, "reference_image_urls"),
    ({"reference_image_urls": [IMG, "nope"]}, "reference_image_urls[1]"),
    ({"prompt": "x" * 10_001}, "prompt"),
])
def test_bad_input_names_its_field(data: dict[str, Any], param: str) -> None:
    if data.get("prompt", "") is None:
        data.pop("prompt")
        with pytest.raises(MissingInput) as caught:
            translate.parse_create(data)
        assert caught.value.param == param
        return
    assert bad_param(**data) == param


def test_unknown_model_is_model_not_found() -> None:
    with pytest.raises(NotFound) as caught:
        spec_of(model="veo-3")
    assert caught.value.param == "model"
    with pytest.raises(NotFound):
        spec_of(model="seedream-3-0-t2i")        # an image model is not a video model


@pytest.mark.parametrize(("status", "wire_status", "code"), [
    (TaskStatus.QUEUED, "queued", None), (TaskStatus.RUNNING, "in_progress", None),
    (TaskStatus.SUCCEEDED, "completed", None), (TaskStatus.FAILED, "failed",
                                                "internal_service_error"),
    (TaskStatus.CANCELLED, "failed", "cancelled"), (TaskStatus.EXPIRED, "failed", "expired"),
])
def test_video_object_per_status(status: TaskStatus, wire_status: str,
                                 code: str | None) -> None:
    task = make_task(status)
    if status == TaskStatus.FAILED:
        task.error_code, task.error_message = "InternalServiceError", "engine died"
    video = translate.video_object(task).model_dump(mode="json")
    assert video["status"] == wire_status and video["object"] == "video"
    assert (video["error"] or {}).get("code") == code
    assert video["progress"] == (100 if status == TaskStatus.SUCCEEDED else 42)
    assert video["completed_at"] == (1_750_000_020 if status.terminal else None)
    assert (video["created_at"], video["size"], video["seconds"]) == \
        (1_750_000_000, "1280x720", "4")
    assert (video["engine"], video["seed"], video["camera_fixed"]) == ("motion", 5, True)
    assert list(video)[:13] == ["id", "object", "model", "status", "progress", "created_at",
                                "completed_at", "expires_at", "prompt", "size", "seconds",
                                "remixed_from_video_id", "error"]


def test_seconds_of_an_exact_frame_count() -> None:
    assert translate.video_object(make_task(TaskStatus.QUEUED, frames=49, duration=None)) \
        .seconds == "2"
    assert translate.seconds({"frames": 29, "fps": 24}) == "1.17"


def test_video_list_and_webhook_body() -> None:
    tasks = [make_task(TaskStatus.QUEUED), make_task(TaskStatus.SUCCEEDED)]
    tasks[1].id = "cgt-20250101000000-bbbbbbbb"
    page = translate.video_list(tasks, True).model_dump()
    assert (page["object"], page["first_id"], page["last_id"], page["has_more"]) == \
        ("list", tasks[0].id, tasks[1].id, True)
    assert translate.video_list([], False).model_dump()["first_id"] is None
    service = SimpleNamespace(file_url=lambda task, name: f"http://files/{name}")
    assert translate.webhook_body(tasks[1], service)["status"] == "completed"  # type: ignore


def upload(data: bytes, name: str = "ref.png", ctype: str = "image/png") -> UploadFile:
    return UploadFile(io.BytesIO(data), size=len(data), filename=name,
                      headers=Headers({"content-type": ctype}))


def test_form_conventions_of_the_sdk() -> None:
    items = [("prompt", "p"), ("reference_image_urls[]", "a"), ("reference_image_urls[]", "b"),
             ("input_reference[image_url]", IMG), ("seed", "5"), ("seed", "6"),
             ("size", ""), ("tags[]", "x")]
    out = asyncio.run(body.form_to_dict(items, max_file_bytes=100))
    assert out == {"prompt": "p", "reference_image_urls": ["a", "b"],
                   "input_reference": {"image_url": IMG}, "seed": ["5", "6"], "tags": ["x"]}


def test_uploaded_input_reference_becomes_a_data_uri() -> None:
    data = png_bytes()
    out = asyncio.run(body.form_to_dict([("input_reference", upload(data, ctype="x/y"))],
                                        max_file_bytes=10_000))
    assert out["input_reference"].startswith("data:image/png;base64,")
    jpeg = asyncio.run(body.upload_to_data_uri(upload(b"junk", ctype="image/jpeg"),
                                               param="input_reference", max_bytes=100))
    assert jpeg.startswith("data:image/jpeg;base64,")      # the service will refuse the bytes


def test_upload_limits_and_stray_files() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        asyncio.run(body.form_to_dict([("input_reference", upload(png_bytes()))],
                                      max_file_bytes=10))
    assert caught.value.param == "input_reference" and caught.value.status == 413
    with pytest.raises(InvalidInput) as stray:
        asyncio.run(body.form_to_dict([("video", upload(b"x"))], max_file_bytes=10))
    assert stray.value.param == "video"


@pytest.mark.parametrize(("raw", "error"), [
    (b"", MissingInput), (b"{bad", InvalidInput), (b"[1, 2]", InvalidInput),
    (b"\xff\xfe", InvalidInput)])
def test_json_bodies(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        body.json_object(raw)
    assert caught.value.param == "body"     # type: ignore[attr-defined]
    assert body.json_object(b'{"prompt": "p"}') == {"prompt": "p"}


# -- the shared image endpoint -------------------------------------------------------------


def image_spec(**data: Any) -> ImageSpec:
    data.setdefault("prompt", "a lighthouse")
    return images.image_spec_from_wire(translate.parse(wire.ImageGenerateRequest, data))


def image_bad_param(**data: Any) -> str | None:
    with pytest.raises(InvalidInput) as caught:
        image_spec(**data)
    return caught.value.param


@pytest.mark.parametrize(("given", "model"), [
    (None, "seedream-3-0-t2i"), ("dall-e-3", "seedream-3-0-t2i"),
    ("gpt-image-1", "seedream-3-0-t2i"), ("bytedance/seedream-3.0", "bytedance/seedream-3.0"),
    ("seedream-4-0-250828", "seedream-4-0-250828")])
def test_image_model_mapping(given: str | None, model: str) -> None:
    assert images.image_model(given) == model


def test_openai_image_request() -> None:
    spec = image_spec(model="seedream-3-0-t2i", size="1024x1024", response_format="b64_json",
                      n=1, quality="hd", style="vivid", user="u1")
    assert (spec.model, spec.size, spec.response_format, spec.watermark) == \
        ("seedream-3-0-t2i", "1024x1024", "b64_json", False)
    assert image_spec(size="auto").size is None


@pytest.mark.parametrize(("image_size", "size"), [
    ("square_hd", "1024x1024"), ("square", "512x512"), ("portrait_4_3", "768x1024"),
    ("portrait_16_9", "576x1024"), ("landscape_4_3", "1024x768"),
    ("landscape_16_9", "1024x576"), ("2K", "2K"), ({"width": 1440, "height": 2048},
                                                   "1440x2048")])
def test_aiml_image_size(image_size: Any, size: str) -> None:
    spec = image_spec(model="bytedance/seedream-v4-text-to-image", image_size=image_size,
                      num_images=1, seed=3, enable_safety_checker=True, sync_mode=False)
    assert (spec.size, spec.seed) == (size, 3)


def test_aiml_seedream_30_and_edit_fields() -> None:
    spec = image_spec(model="bytedance/seedream-3.0", size="1024x768", guidance_scale=2.5,
                      watermark=True)
    assert (spec.guidance_scale, spec.watermark) == (2.5, True)
    edit = image_spec(model="bytedance/seedream-v4-edit", image_urls=[IMG, IMG])
    assert [(i.role, i.param) for i in edit.images] == \
        [("reference_image", "image_urls[0]"), ("reference_image", "image_urls[1]")]
    assert [i.param for i in image_spec(image=IMG).images] == ["image"]
    assert [i.param for i in image_spec(image=[IMG]).images] == ["image[0]"]


@pytest.mark.parametrize(("data", "param"), [
    ({"prompt": " "}, "prompt"),
    ({"n": 2}, "n"),
    ({"num_images": 4}, "num_images"),
    ({"stream": True}, "stream"),
    ({"output_format": "jpeg"}, "output_format"),
    ({"response_format": "png"}, "response_format"),
    ({"size": "10x10"}, "size"),
    ({"size": "huge"}, "size"),
    ({"image_size": "cinema"}, "image_size"),
    ({"image_size": {"width": 100, "height": 100}}, "image_size"),
    ({"image_size": {"width": 1024}}, "image_size.height"),
    ({"size": "1024x1024", "image_size": "square"}, "image_size"),
    ({"guidance_scale": 11}, "guidance_scale"),
    ({"seed": 2**31}, "seed"),
    ({"image_urls": ["ftp://x"]}, "image_urls[0]"),
    ({"image_urls": [IMG], "image": IMG}, "image"),
    ({"image_urls": [IMG] * 15}, "image_urls"),
    ({"model": "bytedance/seedream-v4-edit"}, "image_urls"),
])
def test_image_bad_input_names_its_field(data: dict[str, Any], param: str) -> None:
    assert image_bad_param(**data) == param


def test_images_response_and_errors() -> None:
    task = image_task(TaskStatus.SUCCEEDED)
    reply = images.images_response(task, images.image_item(url=None, data=b"png")).model_dump()
    assert reply == {"created": 1_750_000_020,
                     "data": [{"url": None, "b64_json": "cG5n", "revised_prompt": None}],
                     "meta": {"usage": {"credits_used": 4096}}}
    service = SimpleNamespace(file_url=lambda t, n: f"http://files/{n}")
    hook = DIALECT.webhook_body(task, service)                  # type: ignore[arg-type]
    assert hook["data"][0]["url"] == "http://files/image.png"
    failed = image_task(TaskStatus.FAILED)
    failed.error_code, failed.error_message = "InvalidParameter", "bad image"
    assert isinstance(images.image_task_error(failed, 5), InvalidInput)
    assert DIALECT.webhook_body(failed, service)["error"]["code"] == "invalid_value"  # type: ignore
    assert images.image_task_error(image_task(TaskStatus.RUNNING), 5).code == "RequestTimeout"
    failed.error_code = "EngineCrashed"
    assert isinstance(images.image_task_error(failed, 5), EngineFailed)


# -- cursor pagination -------------------------------------------------------------------------


class ListService:
    """``list`` / ``get`` over an in-memory set of tasks, newest first like the store."""

    def __init__(self, count: int) -> None:
        self.tasks = []
        for n in range(count):   # two tasks per second, ids embed the second
            task = make_task(TaskStatus.SUCCEEDED)
            task.id = f"cgt-2025010100{n // 2 // 60:02d}{n // 2 % 60:02d}-{n:08d}"
            task.created_at = 1_735_689_600.0 + n // 2 + (n % 2) * 0.5
            self.tasks.append(task)

    def ordered(self) -> list[Task]:
        return sorted(self.tasks, key=paging.key, reverse=True)

    def list(self, owner_id: str, *, kind: str, offset: int, limit: int) -> tuple[int, list]:
        ordered = self.ordered()
        return len(ordered), ordered[offset:offset + limit]

    def get(self, task_id: str, *, owner_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise NotFound("gone", param="id")


def walk(service: ListService, order: str, limit: int) -> list[str]:
    seen, after = [], None
    while True:
        page, more = paging.page_videos(service, "o", after=after, limit=limit,  # type: ignore
                                        order=order)
        seen += [t.id for t in page]
        if not more:
            return seen
        after = page[-1].id


@pytest.mark.parametrize("limit", [1, 3, 7, 20, 100])
def test_cursor_pages_cover_everything_once(limit: int) -> None:
    service = ListService(23)
    newest_first = [t.id for t in service.ordered()]
    assert walk(service, "desc", limit) == newest_first
    assert walk(service, "asc", limit) == list(reversed(newest_first))


def test_deleting_while_iterating_never_skips() -> None:
    service = ListService(12)
    expected = [t.id for t in service.ordered()]
    seen, after = [], None
    while True:
        page, more = paging.page_videos(service, "o", after=after, limit=3,  # type: ignore
                                        order="desc")
        seen += [t.id for t in page]
        service.tasks = [t for t in service.tasks if t.id not in {p.id for p in page}]
        if not more:
            break
        after = page[-1].id
    assert set(seen) == set(expected)


def test_paging_edges() -> None:
    service = ListService(5)
    assert paging.page_videos(service, "o", after=None, limit=0, order="desc") == \
        ([], True)                                                          # type: ignore
    assert paging.page_videos(ListService(0), "o", after=None, limit=5,     # type: ignore
                              order="asc") == ([], False)
    for kwargs, param in (({"limit": 101}, "limit"), ({"limit": -1}, "limit"),
                          ({"order": "newest"}, "order"), ({"after": "video_123"}, "after")):
        args = {"after": None, "limit": 5, "order": "desc", **kwargs}
        with pytest.raises(InvalidInput) as caught:
            paging.page_videos(service, "o", **args)                        # type: ignore
        assert caught.value.param == param


# -- previews ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = Path(tmp_path_factory.mktemp("mp4")) / "clip.mp4"
    with VideoWriter(path, 64, 48, 24) as writer:
        for n in range(30):
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, : 2 * n + 2] = (255, 255, 255) if n == 0 else (0, 200, 0)
            writer.write(frame)
    return path.read_bytes()


def test_thumbnail_is_the_first_frame_as_webp(mp4: bytes) -> None:
    with Image.open(io.BytesIO(thumbnail.thumbnail_webp(mp4))) as image:
        assert (image.format, image.size) == ("WEBP", (64, 48))
        assert image.convert("RGB").getpixel((0, 20))[0] > 200      # the white first frame


def test_spritesheet_is_a_jpeg_grid(mp4: bytes) -> None:
    with Image.open(io.BytesIO(thumbnail.spritesheet_jpeg(mp4, columns=5, max_tiles=10,
                                                         tile_width=32))) as sheet:
        assert (sheet.format, sheet.size) == ("JPEG", (5 * 32, 2 * 24))
    assert thumbnail._spread(30, 10) == {0, 3, 6, 10, 13, 16, 19, 23, 26, 29}
    assert thumbnail._spread(3, 10) == {0, 1, 2}


def test_broken_video_is_a_storage_error() -> None:
    with pytest.raises(StorageError):
        thumbnail.thumbnail_webp(b"not an mp4")
