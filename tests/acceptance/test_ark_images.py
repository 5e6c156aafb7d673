"""Seedream image generation through both official SDKs against a real server: URL and
base64 responses with exact sizes, presets, seeds, input images, streaming, and bad input."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from byteplussdkarkruntime.types.images.images import (
    SequentialImageGenerationOptions as BpSetOptions,
)
from volcenginesdkarkruntime import Ark
from volcenginesdkarkruntime._exceptions import (
    ArkBadRequestError,
    ArkInternalServerError,
    ArkNotFoundError,
)
from volcenginesdkarkruntime.types.images.images import (
    OptimizePromptOptions,
    SequentialImageGenerationOptions,
)

from tests.acceptance.support.ark_engines import FAILURE_MESSAGE
from tests.acceptance.support.server import (
    API_KEY,
    FAILS_IMAGE_MODEL,
    GUARDED_IMAGE_WAIT_S,
    IMAGE_MODEL,
    SLOW_SET_MODEL,
    TEXT_ONLY_IMAGE_MODEL,
    ImageHost,
    Server,
    download,
    image_size,
    png_size,
)

BP_IMAGE_MODEL = "seedream-4-0-250828"
EDIT_MODEL = "seededit-3-0-i2i-250628"


def test_url_response_with_exact_size(volc: Any) -> None:
    response = volc.images.generate(model=IMAGE_MODEL, prompt="a lighthouse at dusk",
                                    size="512x768", response_format="url")
    assert response.model == IMAGE_MODEL and response.created_at > 0
    (item,) = response.data
    assert item.size == "512x768" and item.b64_json is None
    assert png_size(download(item.url)) == (512, 768)
    usage = response.usage
    assert (usage.generated_images, usage.output_tokens, usage.total_tokens) == (
        1, 512 * 768 // 256, 512 * 768 // 256)


def test_b64_json_response_with_a_preset_size(byteplus: Any) -> None:
    response = byteplus.images.generate(model=BP_IMAGE_MODEL, prompt="a red bicycle",
                                        size="1K", response_format="b64_json", watermark=False)
    (item,) = response.data
    assert item.size == "1024x1024" and not item.url
    assert image_size(base64.b64decode(item.b64_json), "JPEG") == (1024, 1024)  # the vendor's


@pytest.mark.parametrize(("model", "prompt", "size", "pixels"), [
    (BP_IMAGE_MODEL, "a harbour at dawn, 16:9", "2K", (2848, 1600)),
    ("doubao-seedream-4-5-251128", "a tall 9:16 poster", "2K", (1600, 2848)),
    ("doubao-seedream-5-0-260128", "a 4:3 postcard", "3K", (3456, 2592)),
    (BP_IMAGE_MODEL, "a lighthouse", "1K", (1024, 1024)),
])
def test_seedream_size_presets_give_the_vendors_pixel_sizes(
        volc: Any, model: str, prompt: str, size: str, pixels: tuple[int, int]) -> None:
    response = volc.images.generate(model=model, prompt=prompt, size=size, watermark=False)
    (item,) = response.data
    assert item.size == "{}x{}".format(*pixels)
    assert image_size(download(item.url), "JPEG") == pixels
    assert response.usage.output_tokens == pixels[0] * pixels[1] // 256


def test_a_sequential_generation_makes_the_set_asked_for(byteplus: Any, volc: Any) -> None:
    response = byteplus.images.generate(
        model=BP_IMAGE_MODEL, prompt="a comic strip of a fox", size="1280x720",
        sequential_image_generation="auto", response_format="b64_json", output_format="png",
        sequential_image_generation_options=BpSetOptions(max_images=4))
    assert len(response.data) == 4
    pictures = [base64.b64decode(item.b64_json) for item in response.data]
    assert {png_size(p) for p in pictures} == {(1280, 720)}
    assert len(set(pictures)) == 4                            # four different images
    usage = response.usage
    assert usage.generated_images == 4
    assert usage.output_tokens == usage.total_tokens == 4 * 1280 * 720 // 256
    # the model decides how many from the prompt, within max_images
    response = volc.images.generate(
        model=BP_IMAGE_MODEL, prompt="three posters for one campaign", size="1280x720",
        sequential_image_generation="auto",
        sequential_image_generation_options=SequentialImageGenerationOptions(max_images=15))
    assert len(response.data) == 3 and response.usage.generated_images == 3


def test_a_streamed_set_yields_one_event_per_image(volc: Any) -> None:
    events = list(volc.images.generate(
        model=BP_IMAGE_MODEL, prompt="a storyboard", size="1280x720", stream=True,
        sequential_image_generation="auto",
        sequential_image_generation_options=SequentialImageGenerationOptions(max_images=3)))
    assert [e.type for e in events] == ["image_generation.partial_succeeded"] * 3 + [
        "image_generation.completed"]
    assert [e.image_index for e in events[:3]] == [0, 1, 2]
    assert {image_size(download(e.url), "JPEG") for e in events[:3]} == {(1280, 720)}
    usage = events[3].usage
    assert (usage["generated_images"] if isinstance(usage, dict) else usage.generated_images) == 3


def test_a_stream_delivers_each_image_of_a_set_as_it_is_made(http: httpx.Client) -> None:
    arrived: list[tuple[float, dict[str, Any]]] = []
    started = time.monotonic()
    with http.stream("POST", "/images/generations", json={
            "model": SLOW_SET_MODEL, "prompt": "a storyboard", "size": "1280x720",
            "stream": True, "sequential_image_generation": "auto",
            "sequential_image_generation_options": {"max_images": 3}}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                arrived.append((time.monotonic() - started, json.loads(line[6:])))
    kinds = [event["type"] for _, event in arrived]
    assert kinds == ["image_generation.partial_succeeded"] * 3 + ["image_generation.completed"]
    at = [when for when, _ in arrived]
    # the images are made 1 s apart, and each arrives as it is made, not all at the end
    assert at[1] - at[0] > 0.6 and at[2] - at[1] > 0.6, at
    assert [event.get("image_index") for _, event in arrived[:3]] == [0, 1, 2]
    assert arrived[3][1]["usage"]["generated_images"] == 3


@pytest.mark.parametrize(("fields", "param"), [
    ({"size": "800x800"}, "size"),                  # under 4.0's 921,600 pixels
    ({"size": "1280x719"}, "size"),                 # one row short of the smallest
    ({"size": "3K"}, "size"),                       # 3K: 5.0 only
    ({"sequential_image_generation": "auto",
      "sequential_image_generation_options": SequentialImageGenerationOptions(max_images=16)},
     "sequential_image_generation_options.max_images"),
    ({"sequential_image_generation_options": SequentialImageGenerationOptions(max_images=2)},
     "sequential_image_generation_options.max_images"),
    ({"output_format": "webp"}, "output_format"),
    ({"optimize_prompt_options": OptimizePromptOptions(mode="slow")},
     "optimize_prompt_options.mode"),
])
def test_bad_seedream_4_fields_are_400s_naming_them(volc: Any, fields: dict[str, Any],
                                                    param: str) -> None:
    with pytest.raises(ArkBadRequestError) as caught:
        volc.images.generate(**{"model": BP_IMAGE_MODEL, "prompt": "p", **fields})
    assert caught.value.param == param
    assert caught.value.code == "InvalidParameter"


def test_the_edges_of_a_seedream_4_request_are_accepted(volc: Any, images: ImageHost) -> None:
    assert volc.images.generate(model=BP_IMAGE_MODEL, prompt="p",
                                size="1280x720").data[0].size == "1280x720"
    response = volc.images.generate(
        model=BP_IMAGE_MODEL, prompt="p", size="1280x720", sequential_image_generation="auto",
        sequential_image_generation_options=SequentialImageGenerationOptions(max_images=15))
    assert len(response.data) == 15         # no count in the prompt: max_images (docs/ark.md)
    response = volc.images.generate(
        model=BP_IMAGE_MODEL, prompt="p", size="1280x720", sequential_image_generation="auto")
    assert len(response.data) == 4          # neither: a set of 4
    response = volc.images.generate(
        model=BP_IMAGE_MODEL, prompt="fifteen stickers", size="1280x720",
        image=[images.url("ref1.jpg")], sequential_image_generation="auto")
    assert len(response.data) == 14         # references + outputs <= 15


def test_same_seed_same_image(volc: Any) -> None:
    def make() -> bytes:
        response = volc.images.generate(model=IMAGE_MODEL, prompt="a tiled roof", seed=99,
                                        size="384x384", response_format="b64_json")
        return base64.b64decode(response.data[0].b64_json)

    assert make() == make()


def test_input_images_and_group_mode(volc: Any, images: ImageHost) -> None:
    response = volc.images.generate(
        model=EDIT_MODEL, prompt="make it autumn", image=images.url("wide.jpg"),
        size="adaptive", optimize_prompt=True)
    assert len(response.data) == 1 and response.data[0].url
    with pytest.raises(ArkBadRequestError) as caught:    # SeedEdit makes no image sets
        volc.images.generate(model=EDIT_MODEL, prompt="make it autumn",
                             image=images.url("wide.jpg"), sequential_image_generation="auto")
    assert caught.value.param == "sequential_image_generation"
    response = volc.images.generate(
        model=BP_IMAGE_MODEL, prompt="combine", size="1280x1280", output_format="png",
        image=[images.url("ref1.jpg"), images.data_uri("ref2.jpg")])
    assert png_size(download(response.data[0].url)) == (1280, 1280)


def test_streaming(volc: Any) -> None:
    events = list(volc.images.generate(model=IMAGE_MODEL, prompt="a kite", size="320x320",
                                       stream=True))
    types = [e.type for e in events]
    assert types == ["image_generation.partial_succeeded", "image_generation.completed"]
    assert events[0].size == "320x320" and events[0].url
    # the SDK's event union cannot tell its members apart (both declare `type: str`), so the
    # completed event's usage arrives as a plain dict
    usage = events[1].usage
    assert (usage["generated_images"] if isinstance(usage, dict) else usage.generated_images) == 1


def test_engine_header_and_created(http: httpx.Client) -> None:
    response = http.post("/images/generations", json={"model": IMAGE_MODEL, "prompt": "a fox",
                                                      "size": "300x300"})
    assert response.status_code == 200
    assert response.headers["X-Framecast-Engine"] == "testcard"
    data = response.json()
    assert isinstance(data["created"], int) and data["created"] == data["created_at"]


@pytest.mark.parametrize(("fields", "param"), [
    ({"size": "10x10"}, "size"),
    ({"size": "big"}, "size"),
    ({"response_format": "gif"}, "response_format"),
    ({"guidance_scale": 42}, "guidance_scale"),
    ({"seed": -7}, "seed"),
    ({"image": "ftp://example.com/a.png"}, "image"),
    ({"image": ["data:image/png;base64,@@@"]}, "image[0]"),
    ({"sequential_image_generation": "sometimes"}, "sequential_image_generation"),
    ({"prompt": ""}, "prompt"),
])
def test_bad_image_input_is_400(volc: Any, fields: dict[str, Any], param: str) -> None:
    with pytest.raises(ArkBadRequestError) as caught:
        volc.images.generate(**{"model": IMAGE_MODEL, "prompt": "p", **fields})
    assert caught.value.param == param


def test_unknown_or_video_model_is_404(volc: Any) -> None:
    for model in ("seedream-0-0", "doubao-seedance-1-0-pro-250528"):
        with pytest.raises(ArkNotFoundError) as caught:
            volc.images.generate(model=model, prompt="p")
        assert caught.value.param == "model"


def test_missing_prompt_is_400(http: httpx.Client) -> None:
    response = http.post("/images/generations", json={"model": IMAGE_MODEL})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MissingParameter"
    assert response.json()["error"]["param"] == "prompt"


def test_failed_generation_is_a_500_that_the_sdk_does_not_retry(server: Server) -> None:
    attempts: list[str] = []
    transport = httpx.HTTPTransport()

    class Counting(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            attempts.append(request.url.path)
            return transport.handle_request(request)

    client = Ark(base_url=server.base_url, api_key=API_KEY,
                 http_client=httpx.Client(transport=Counting(), timeout=120))
    with pytest.raises(ArkInternalServerError) as caught:
        client.images.generate(model=FAILS_IMAGE_MODEL, prompt="p", size="512x512")
    assert caught.value.status_code == 500 and caught.value.type == "InternalServiceError"
    assert FAILURE_MESSAGE in caught.value.message
    assert len(attempts) == 1      # x-should-retry: false


def test_input_images_need_an_engine_that_takes_them(volc: Any, images: ImageHost) -> None:
    assert volc.images.generate(model=TEXT_ONLY_IMAGE_MODEL, prompt="p").data[0].size == \
        "512x512"
    with pytest.raises(ArkBadRequestError) as caught:
        volc.images.generate(model=TEXT_ONLY_IMAGE_MODEL, prompt="p",
                             image=images.url("ref1.jpg"))
    assert "reference_image" in caught.value.message


def test_refused_input_image_names_the_image_parameter(volc: Any, images: ImageHost) -> None:
    with pytest.raises(ArkBadRequestError) as caught:
        volc.images.generate(model=TEXT_ONLY_IMAGE_MODEL, prompt="p",
                             image=images.url("ref1.jpg"))
    assert caught.value.param == "image"


def test_image_that_does_not_finish_in_time_is_cancelled_not_hung(guarded_server: Server) -> None:
    started = time.monotonic()
    response = httpx.post(f"{guarded_server.base_url}/images/generations", timeout=60,
                          headers={"Authorization": f"Bearer {API_KEY}"},
                          json={"model": IMAGE_MODEL, "prompt": "never runs", "size": "512x512"})
    assert time.monotonic() - started < GUARDED_IMAGE_WAIT_S + 10
    assert response.status_code == 500 and response.headers["x-should-retry"] == "false"
    assert response.json()["error"]["code"] == "RequestTimeout"
