"""The OpenAI dialect against a real server, driven by the official ``openai`` SDK: Seedream
images (b64_json and url), Seedance videos created with an uploaded ``input_reference`` and
``extra_body`` Seedance fields, polled, downloaded (MP4 checked with PyAV, thumbnail,
spritesheet, last frame), listed with cursor pagination, deleted (finished and in progress);
tasks read across dialects; and bad input answered in the vendor's envelope.

The SDK's video methods are ``@deprecated`` (the Sora API shuts down in 2026); the warning is
silenced here. Every task is created up front (``batch``) so the two slots work in parallel.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from tests.acceptance.support.dialects import (
    openai_client,
    root_client,
    wait_generation,
    wait_video,
)
from tests.acceptance.support.server import (
    FAILS_MODEL,
    SLEEPS_MODEL,
    VIDEO_MODEL,
    ImageHost,
    Server,
    probe_mp4,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def client(server: Server) -> Any:
    """The official SDK on ``<server>/v1`` with the static key."""
    return openai_client(server)


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    """HTTP on the server's root with the static key."""
    with root_client(server) as http:
        yield http


@pytest.fixture(scope="module")
def pictures(images: ImageHost, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The loopback server's pictures as files, for ``input_reference=open(...)``."""
    folder = tmp_path_factory.mktemp("pictures")
    for name, (data, _) in images.files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def batch(client: Any, api: httpx.Client, images: ImageHost, pictures: Path) -> dict[str, Any]:
    """Create every video of this module at once; returns the create replies."""
    made: dict[str, Any] = {}
    made["sleeps"] = client.videos.create(prompt="hold a slot", model=SLEEPS_MODEL)
    with (pictures / "wide.jpg").open("rb") as picture:
        made["sora"] = client.videos.create(
            prompt="a slow push in on the bay", model="sora-2", seconds="4", size="1280x720",
            input_reference=picture,
            extra_body={"resolution": "480p", "seed": 42, "camera_fixed": True,
                        "return_last_frame": True})
    made["lite"] = client.videos.create(prompt="a paper boat on a pond",
                                        model="seedance-1-0-lite-i2v", seconds="2",
                                        size="864x480")
    made["fails"] = client.videos.create(prompt="this one fails", model=FAILS_MODEL)
    made["json"] = api.post("/v1/videos", json={
        "prompt": "morph", "model": "bytedance/seedance-1-0-pro-fast", "frames": 29,
        "resolution": "480p", "input_reference": {"image_url": images.url("first.png")},
        "last_frame_url": images.url("last.png")}).json()
    ark = api.post("/api/v3/contents/generations/tasks", json={
        "model": VIDEO_MODEL,
        "content": [{"type": "text", "text": "tilt up --rs 480p --frames 29"}]})
    assert ark.status_code == 200, ark.text
    made["ark"] = ark.json()
    return made


# -- images --------------------------------------------------------------------------------


def test_images_b64_json(client: Any) -> None:
    result = client.images.generate(model="seedream-3-0-t2i", prompt="a lighthouse at dusk",
                                    size="1024x1024", response_format="b64_json")
    assert result.created > 0 and len(result.data) == 1
    with Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json))) as image:
        assert (image.format, image.size) == ("PNG", (1024, 1024))


def test_images_url_and_default_model(client: Any) -> None:
    result = client.images.generate(prompt="a red kite", size="512x768")
    with Image.open(io.BytesIO(httpx.get(result.data[0].url).content)) as image:
        assert image.size == (512, 768)
    assert result.meta["usage"]["credits_used"] == 512 * 768 // 256     # type: ignore[attr-defined]


# -- videos ---------------------------------------------------------------------------------


def test_delete_of_a_video_in_progress_cancels_it(client: Any, batch: dict[str, Any]) -> None:
    video = wait_video(client, batch["sleeps"].id, until=("in_progress",), timeout_s=60)
    assert video.status == "in_progress" and 0 <= video.progress < 100
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_sora_style_create_with_upload_and_extra_body(client: Any, api: httpx.Client,
                                                      batch: dict[str, Any]) -> None:
    created = batch["sora"]
    assert (created.object, created.status, created.model) == \
        ("video", "queued", "seedance-1-5-pro")
    video = client.videos.poll(created.id)            # honours openai-poll-after-ms
    assert video.status == "completed" and video.progress == 100, video.error
    assert (video.size, video.seconds, video.prompt) == ("864x496", "4",
                                                         "a slow push in on the bay")
    assert video.completed_at >= video.created_at
    extras = video.model_extra or {}
    assert (extras["seed"], extras["camera_fixed"], extras["resolution"], extras["engine"]) == \
        (42, True, "480p", "motion")
    info = probe_mp4(client.videos.download_content(video.id).read())
    assert (info.width, info.height, info.frames, round(info.fps)) == (864, 496, 97, 24)
    ark = api.get(f"/api/v3/contents/generations/tasks/{video.id}").json()
    assert (ark["status"], ark["seed"], ark["ratio"]) == ("succeeded", 42, "16:9")


def test_previews(client: Any, batch: dict[str, Any]) -> None:
    video = wait_video(client, batch["sora"].id)
    thumb = client.videos.download_content(video.id, variant="thumbnail")
    assert thumb.response.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumb.read())) as image:
        assert (image.format, image.size) == ("WEBP", (864, 496))
    sheet = client.videos.download_content(video.id, variant="spritesheet")
    with Image.open(io.BytesIO(sheet.read())) as image:
        assert image.format == "JPEG" and image.width == 5 * 256
    last = client.videos.download_content(video.id, extra_query={"variant": "last_frame"})
    with Image.open(io.BytesIO(last.read())) as image:
        assert (image.format, image.size) == ("PNG", (864, 496))


def test_seedance_model_and_exact_size(client: Any, batch: dict[str, Any]) -> None:
    video = wait_video(client, batch["lite"].id)
    assert (video.status, video.model, video.size) == \
        ("completed", "seedance-1-0-lite-i2v", "864x480")
    info = probe_mp4(client.videos.download_content(video.id).read())
    assert (info.width, info.height, info.frames) == (864, 480, 49)


def test_json_create_with_first_and_last_frame(client: Any, batch: dict[str, Any]) -> None:
    video = wait_video(client, batch["json"]["id"])
    assert video.status == "completed" and video.seconds == "1.17"
    assert probe_mp4(client.videos.download_content(video.id).read()).frames == 29


def test_failed_video(client: Any, batch: dict[str, Any]) -> None:
    video = wait_video(client, batch["fails"].id)
    assert video.status == "failed" and video.error is not None
    assert video.error.code and "fails on purpose" in video.error.message
    with pytest.raises(openai.NotFoundError) as caught:
        client.videos.download_content(video.id)
    assert caught.value.code == "video_not_ready"


def test_cross_dialect_reads(client: Any, api: httpx.Client, batch: dict[str, Any]) -> None:
    video = wait_video(client, batch["ark"]["id"])          # created through Ark
    assert (video.status, video.size, video.model) == ("completed", "864x480", VIDEO_MODEL)
    generation = wait_generation(api, batch["lite"].id)      # created here, read as AI/ML
    assert generation["status"] == "completed" and generation["video"]["url"]


def test_list_pagination(client: Any, batch: dict[str, Any]) -> None:
    mine = [batch[name].id for name in ("sora", "lite", "fails")] + [batch["json"]["id"]]
    newest_first = [v.id for v in client.videos.list(limit=2)]      # follows after=last_id
    assert len(newest_first) == len(set(newest_first))
    assert [i for i in newest_first if i in mine] == list(reversed(mine))
    oldest_first = [v.id for v in client.videos.list(limit=3, order="asc")]
    assert oldest_first == list(reversed(newest_first))
    page = client.videos.list(limit=1)
    assert len(page.data) == 1 and page.has_more is True and page.last_id == page.data[0].id


def test_delete_finished_video(client: Any, batch: dict[str, Any]) -> None:
    video = wait_video(client, batch["json"]["id"])
    assert client.videos.delete(video.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error", "param"), [
    ({"seconds": "13"}, openai.BadRequestError, "seconds"),
    ({"seconds": "3"}, openai.BadRequestError, "seconds"),   # sora-2 is 1.5 pro: 4-12 s
    ({"seconds": "2.5"}, openai.BadRequestError, "seconds"),
    ({"size": "wide"}, openai.BadRequestError, "size"),
    ({"model": "veo-3"}, openai.NotFoundError, "model"),
    ({"extra_body": {"resolution": "4k"}}, openai.BadRequestError, "resolution"),
    ({"extra_body": {"frames": 30}}, openai.BadRequestError, "frames"),
    ({"extra_body": {"seed": -2}}, openai.BadRequestError, "seed"),
    ({"extra_body": {"last_frame_url": "http://127.0.0.1:1/x.png"}}, openai.BadRequestError,
     "last_frame_url"),
    ({"extra_body": {"reference_image_urls": ["a", "b", "c", "d", "e"]}},
     openai.BadRequestError, "reference_image_urls"),
    ({"extra_body": {"callback_url": "ftp://hooks"}}, openai.BadRequestError, "callback_url"),
    ({"input_reference": ("tiny.png", "TINY", "image/png")}, openai.BadRequestError,
     "input_reference"),
    ({"input_reference": ("notes.txt", "NOTES", "text/plain")}, openai.BadRequestError,
     "input_reference"),
])
def test_bad_video_input_names_the_field(client: Any, images: ImageHost,
                                         kwargs: dict[str, Any], error: type[Exception],
                                         param: str) -> None:
    if "input_reference" in kwargs:
        name, _, ctype = kwargs["input_reference"]
        kwargs["input_reference"] = (name, images.files[name][0], ctype)
    with pytest.raises(error) as caught:
        client.videos.create(prompt="p", **kwargs)
    assert caught.value.param == param                       # type: ignore[attr-defined]
    assert caught.value.status_code < 500                    # type: ignore[attr-defined]


@pytest.mark.parametrize(("call", "error", "param"), [
    (lambda c: c.videos.retrieve("cgt-20250101000000-nothere1"), openai.NotFoundError,
     "video_id"),
    (lambda c: c.videos.download_content("cgt-x", variant="gif"), openai.BadRequestError,
     "variant"),
    (lambda c: c.videos.list(limit=500), openai.BadRequestError, "limit"),
    (lambda c: c.videos.list(order="up"), openai.BadRequestError, "order"),
    (lambda c: c.videos.list(after="video_123"), openai.BadRequestError, "after"),
    (lambda c: c.images.generate(prompt="p", n=2), openai.BadRequestError, "n"),
    (lambda c: c.images.generate(prompt="p", size="10x10"), openai.BadRequestError, "size"),
    (lambda c: c.images.generate(prompt="p", output_format="jpeg"), openai.BadRequestError,
     "output_format"),
    (lambda c: c.images.generate(prompt="p", model="bytedance/seedream-v4-edit"),
     openai.BadRequestError, "image_urls"),
    (lambda c: c.images.generate(prompt="p", model="no-such-image-model"),
     openai.NotFoundError, "model"),
])
def test_bad_requests_name_the_field(client: Any, call: Any, error: type[Exception],
                                     param: str) -> None:
    with pytest.raises(error) as caught:
        call(client)
    assert caught.value.param == param                       # type: ignore[attr-defined]


def test_wrong_key_and_another_keys_video(server: Server, batch: dict[str, Any]) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        openai_client(server, api_key="wrong").videos.list()
    assert caught.value.code == "invalid_api_key"
    other = openai_client(server, api_key=server.create_key("openai-other"))
    with pytest.raises(openai.NotFoundError):
        other.videos.retrieve(batch["sora"].id)
    with pytest.raises(openai.NotFoundError):
        other.videos.delete(batch["sora"].id)
    assert all(v.id != batch["sora"].id for v in other.videos.list())


def test_raw_http_errors_use_the_envelope(server: Server, api: httpx.Client) -> None:
    for response, status, param in (
            (api.post("/v1/videos", content=b"{x",
                      headers={"Content-Type": "application/json"}), 400, "body"),
            (api.post("/v1/videos", json={"prompt": "p", "input_reference": {"file_id": "f"}}),
             400, "input_reference.file_id"),
            (api.put("/v1/videos"), 405, None),
            (httpx.get(f"{server.root}/v1/videos"), 401, None)):
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["param"] == param
