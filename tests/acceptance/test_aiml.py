"""The AI/ML API dialect against a real server: the vendor's documented calls (seeds 002 and
003: ``requests`` with JSON bodies to ``/v2/...``, then polling ``?generation_id=``) with only
the base URL, the key and the input image's URL changed; every documented Seedance model's
fields reaching the task; a failed generation; tasks read across dialects; Seedream images
through the shared ``/v1/images/generations``; and bad input answered in the vendor's envelope.

Every task is created up front (``batch``) so that the server's two slots work in parallel.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from PIL import Image

from tests.acceptance.support.dialects import assert_aiml_error, root_client, wait_generation
from tests.acceptance.support.server import (
    API_KEY,
    FAILS_MODEL,
    POLL_S,
    SLEEPS_MODEL,
    VIDEO_MODEL,
    ImageHost,
    Server,
    download,
    probe_mp4,
)

PROMPT = "Mona Lisa puts on glasses with her hands."
PRO_15 = "bytedance/seedance-1-5-pro"


# -- the vendor's documented example (seed 002), verbatim but for base URL, key, image ------


def seed_002_generate_video(base_url: str, api_key: str, image_url: str) -> dict[str, Any]:
    url = f"{base_url}/generate/video/bytedance/generation"
    headers = {
        "Authorization": f"Bearer {api_key}",
    }

    data = {
        "model": "bytedance/seedance-1-0-pro-i2v",
        "prompt": "Mona Lisa puts on glasses with her hands.",
        "image_url": image_url,
        "duration": "5"
    }

    response = requests.post(url, json=data, headers=headers)

    if response.status_code >= 400:
        raise AssertionError(f"Error: {response.status_code} - {response.text}")
    response_data = response.json()
    return response_data


def seed_002_get_video(base_url: str, api_key: str, gen_id: str) -> dict[str, Any]:
    url = f"{base_url}/generate/video/bytedance/generation"
    params = {
        "generation_id": gen_id,
    }

    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json"
    }

    response = requests.get(url, params=params, headers=headers)
    return response.json()


def seed_002_main(base_url: str, api_key: str, gen_id: str) -> dict[str, Any] | None:
    """The doc's polling loop (it sleeps 15 s between polls; here ``POLL_S``)."""
    start_time = time.time()
    timeout = 600
    while time.time() - start_time < timeout:
        response_data = seed_002_get_video(base_url, api_key, gen_id)
        if response_data is None:
            return None
        status = response_data.get("status")
        if status in ["queued", "generating"]:
            time.sleep(POLL_S)
        else:
            return response_data
    return None


# -- one batch of tasks for the module ----------------------------------------------------------


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    """HTTP on the server's root with the static key."""
    with root_client(server) as client:
        yield client


@pytest.fixture(scope="module")
def batch(server: Server, api: httpx.Client, images: ImageHost) -> dict[str, str]:
    """Create every task of this module at once (small ones first); returns their ids."""
    ids: dict[str, str] = {}

    def create(name: str, body: dict[str, Any], path: str = "/v2/video/generations") -> None:
        response = api.post(path, json=body)
        assert response.status_code == 200, response.text
        ids[name] = response.json()["id"]

    create("sleeps", {"model": SLEEPS_MODEL, "prompt": "hold a slot"})
    create("pro15", {"model": PRO_15, "prompt": "a slow orbit around the garden",
                     "image_url": images.url("first.png"), "aspect_ratio": "1:1",
                     "resolution": "480p", "duration": 4, "seed": 123, "camera_fixed": True,
                     "watermark": True, "generate_audio": False})
    create("fails", {"model": FAILS_MODEL, "prompt": "this one fails"})
    ark = api.post("/api/v3/contents/generations/tasks", json={
        "model": VIDEO_MODEL,
        "content": [{"type": "text", "text": "pan left --rs 480p --frames 29"}]})
    assert ark.status_code == 200, ark.text
    ids["ark"] = ark.json()["id"]
    ids["seed002"] = seed_002_generate_video(f"{server.root}/v2", API_KEY,
                                             images.url("first.png"))["id"]
    seed_003 = requests.post(f"{server.root}/v2/video/generations", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}",
    }, json={"model": "bytedance/seedance-1-0-lite-i2v", "prompt": PROMPT,
             "image_url": images.url("tall.jpg")})
    assert seed_003.status_code == 200, seed_003.text
    assert seed_003.json()["status"] == "queued"
    ids["seed003"] = seed_003.json()["id"]
    return ids


def test_generating_status_then_completed(api: httpx.Client, batch: dict[str, str]) -> None:
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = api.get("/v2/video/generations", params={"generation_id": batch["sleeps"]}).json()
        seen.add(data["status"])
        if data["status"] not in ("queued", "generating"):
            break
        time.sleep(POLL_S)
    assert "generating" in seen and data["status"] == "completed"
    assert data["meta"]["engine"] == "sleeps" and data["meta"]["progress"] == 100


def test_seed_002_example_runs_unchanged(server: Server, batch: dict[str, str]) -> None:
    result = seed_002_main(f"{server.root}/v2", API_KEY, batch["seed002"])
    assert result is not None and result["status"] == "completed", result
    assert result["id"] == batch["seed002"] and result["error"] is None
    info = probe_mp4(download(result["video"]["url"]))
    # 1.0 pro defaults: 1080p, 5 s; no aspect_ratio field, so the 4:3 image decides the ratio
    assert (info.width, info.height, info.frames, round(info.fps)) == (1664, 1248, 121, 24)
    assert result["meta"]["usage"]["credits_used"] == 1664 * 1248 * 121 // 1024


def test_seed_003_lite_i2v_defaults(api: httpx.Client, batch: dict[str, str]) -> None:
    result = wait_generation(api, batch["seed003"])
    assert result["status"] == "completed", result
    info = probe_mp4(download(result["video"]["url"]))
    # lite-i2v defaults to 720p (seed 003); the 9:16 image gives 704x1248
    assert (info.width, info.height, info.frames) == (704, 1248, 121)


def test_seedance_15_pro_fields_reach_the_task(api: httpx.Client,
                                               batch: dict[str, str]) -> None:
    result = wait_generation(api, batch["pro15"])
    assert result["status"] == "completed", result
    info = probe_mp4(download(result["video"]["url"]))
    assert (info.width, info.height, info.frames) == (640, 640, 97)
    ark = api.get(f"/api/v3/contents/generations/tasks/{batch['pro15']}").json()
    assert (ark["status"], ark["seed"], ark["resolution"], ark["ratio"], ark["duration"]) == \
        ("succeeded", 123, "480p", "1:1", 4)
    assert (ark["camera_fixed"], ark["watermark"], ark["generate_audio"]) == (True, True, False)
    openai = api.get(f"/v1/videos/{batch['pro15']}").json()
    assert (openai["status"], openai["size"], openai["seconds"]) == ("completed", "640x640", "4")


def test_failed_generation_is_error(api: httpx.Client, batch: dict[str, str]) -> None:
    result = wait_generation(api, batch["fails"])
    assert result["status"] == "error" and result["video"] is None
    assert result["error"]["name"] and "fails on purpose" in result["error"]["message"]


def test_ark_task_is_readable_as_a_generation(api: httpx.Client,
                                              batch: dict[str, str]) -> None:
    result = wait_generation(api, batch["ark"],
                             path="/v2/generate/video/bytedance/generation")
    assert result["status"] == "completed"
    assert probe_mp4(download(result["video"]["url"])).frames == 29


def test_seedream_images_through_the_shared_endpoint(server: Server) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    for body, size in (({"model": "bytedance/seedream-3.0", "prompt": "a red fox",
                         "size": "1024x768", "seed": 5, "guidance_scale": 3.0}, (1024, 768)),
                       ({"model": "bytedance/seedream-v4-text-to-image", "prompt": "a fox",
                         "image_size": "landscape_16_9", "num_images": 1,
                         "enable_safety_checker": True}, (1024, 576))):
        response = requests.post(f"{server.root}/v1/images/generations", json=body,
                                 headers=headers)
        assert response.status_code == 200, response.text
        data = response.json()
        with Image.open(io.BytesIO(download(data["data"][0]["url"]))) as image:
            assert image.size == size
        assert data["meta"]["usage"]["credits_used"] == size[0] * size[1] // 256


@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": "p"}, "model"),
    ({"model": "bytedance/no-such-model", "prompt": "p"}, "model"),
    ({"model": "bytedance/seedream-3.0", "prompt": "p"}, "model"),
    ({"model": "bytedance/seedance-1-0-pro-i2v"}, "prompt"),
    ({"model": "bytedance/seedance-1-0-pro-i2v", "prompt": "p", "duration": "7"}, "duration"),
    ({"model": PRO_15, "prompt": "p", "duration": 15}, "duration"),
    ({"model": PRO_15, "prompt": "p", "resolution": "4k"}, "resolution"),
    ({"model": PRO_15, "prompt": "p", "aspect_ratio": "5:4"}, "aspect_ratio"),
    ({"model": PRO_15, "prompt": "p", "seed": -5}, "seed"),
    ({"model": "bytedance/seedance-1-0-lite-i2v", "prompt": "p"}, "image_url"),
    ({"model": "bytedance/seedance-1-0-lite-t2v", "prompt": "p", "image_url": "IMG"},
     "image_url"),
    ({"model": PRO_15, "prompt": "p", "last_image_url": "IMG"}, "last_image_url"),
    ({"model": PRO_15, "prompt": "p", "image_url": "file:///etc/passwd"}, "image_url"),
    ({"model": PRO_15, "prompt": "p", "image_url": "IMG:tiny.png"}, "image_url"),
    ({"model": PRO_15, "prompt": "p", "image_url": "IMG:notes.txt"}, "image_url"),
    ({"model": PRO_15, "prompt": "p", "image_url": "IMG:missing.png"}, "image_url"),
    ({"model": PRO_15, "prompt": "p", "callback_url": "javascript:alert(1)"}, "callback_url"),
])
def test_bad_input_names_the_field(api: httpx.Client, images: ImageHost,
                                   body: dict[str, Any], param: str) -> None:
    for key, value in body.items():
        if isinstance(value, str) and value.startswith("IMG"):
            body[key] = images.url(value.partition(":")[2] or "first.png")
    assert_aiml_error(api.post("/v2/video/generations", json=body), 400, param)


def test_unreadable_bodies_and_wrong_requests(api: httpx.Client, server: Server) -> None:
    assert_aiml_error(api.post("/v2/video/generations", content=b"{not json",
                                headers={"Content-Type": "application/json"}), 400, "body")
    assert_aiml_error(api.post("/v2/video/generations", json=["a"]), 400, "body")
    assert_aiml_error(api.get("/v2/video/generations"), 400, "generation_id")
    assert_aiml_error(api.get("/v2/video/generations", params={"generation_id": "cgt-nope"}),
                      404, "generation_id")
    assert_aiml_error(api.delete("/v2/video/generations"), 405, None)
    assert_aiml_error(httpx.get(f"{server.root}/v2/video/generations",
                                params={"generation_id": "x"}), 401, None)


def test_another_keys_generation_is_not_found(server: Server, batch: dict[str, str]) -> None:
    other = server.create_key("aiml-other")
    response = httpx.get(f"{server.root}/v2/video/generations",
                         params={"generation_id": batch["pro15"]},
                         headers={"Authorization": f"Bearer {other}"})
    assert_aiml_error(response, 404, "generation_id")
