"""Bad input over the Ark API: every case is a 4xx with the vendor's envelope naming the
parameter at fault (never a 5xx), the SDKs' exceptions carry code/param/request id, and the
SSRF guard refuses private and metadata addresses on a server that does not allow them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from volcenginesdkarkruntime import Ark
from volcenginesdkarkruntime._exceptions import (
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkNotFoundError,
)

from tests.acceptance.support.server import API_KEY, IMAGE_MODEL, VIDEO_MODEL, ImageHost, Server

TASKS = "/contents/generations/tasks"
TYPES = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 413: "BadRequest"}


def text(prompt: str = "a calm lake --rs 480p --frames 29") -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def image(url: str, role: str | None = "first_frame") -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if role:
        item["role"] = role
    return item


def body(*content: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": VIDEO_MODEL, "content": list(content), **fields}


URL = "content[1].image_url.url"
# name → (body made from the image host, status, code, param)
Case = tuple[Callable[[ImageHost], Any], int, str, str]
CASES: dict[str, Case] = {
    "unknown model": (lambda h: {**body(text()), "model": "seedance-9-9-ultra"}, 404,
                      "InvalidEndpointOrModel.NotFound", "model"),
    "image model for video": (lambda h: {**body(text()), "model": IMAGE_MODEL}, 404,
                              "InvalidEndpointOrModel.NotFound", "model"),
    "bad resolution flag": (lambda h: body(text("x --rs 4k")), 400, "InvalidParameter",
                            "resolution"),
    "bad ratio": (lambda h: body(text(), ratio="5:4"), 400, "InvalidParameter", "ratio"),
    "duration 1": (lambda h: body(text("x --dur 1")), 400, "InvalidParameter", "duration"),
    "frames 30": (lambda h: body(text("x --frames 30")), 400, "InvalidParameter", "frames"),
    "seed -2": (lambda h: body(text("x --seed -2")), 400, "InvalidParameter", "seed"),
    "fps 30": (lambda h: body(text("x --fps 30")), 400, "InvalidParameter", "framespersecond"),
    "duration and frames": (lambda h: body(text("x --dur 3"), frames=29), 400,
                            "InvalidParameter", "frames"),
    "expiry too short": (lambda h: body(text(), execution_expires_after=60), 400,
                         "InvalidParameter", "execution_expires_after"),
    "bad service tier": (lambda h: body(text(), service_tier="gold"), 400, "InvalidParameter",
                         "service_tier"),
    "last frame without first": (lambda h: body(text(), image(h.url("last.png"), "last_frame")),
                                 400, "InvalidParameter", "content"),
    "5 reference images": (lambda h: body(text(), *[
        image(h.url(f"ref{n}.jpg"), "reference_image") for n in range(1, 6)]), 400,
        "InvalidParameter", "content"),
    "references and first frame": (lambda h: body(text(), image(h.url("first.png")), image(
        h.url("ref1.jpg"), "reference_image")), 400, "InvalidParameter", "content"),
    "reference images at 1080p": (lambda h: body(text("x --rs 1080p"), image(
        h.url("ref1.jpg"), "reference_image")), 400, "InvalidParameter", "resolution"),
    "unknown role": (lambda h: body(text(), image(h.url("first.png"), "middle_frame")), 400,
                     "InvalidParameter", "content[1].role"),
    "non-image URL": (lambda h: body(text(), image(h.url("notes.txt"))), 400,
                      "InvalidParameter", URL),
    "HTML served as PNG": (lambda h: body(text(), image(h.url("fake.png"))), 400,
                           "InvalidParameter", URL),
    "URL answering 404": (lambda h: body(text(), image(h.url("missing.png"))), 400,
                          "InvalidParameter", URL),
    "image under 300 px": (lambda h: body(text(), image(h.url("tiny.png"))), 400,
                           "InvalidParameter", URL),
    "ftp URL": (lambda h: body(text(), image("ftp://example.com/a.png")), 400,
                "InvalidParameter", URL),
    "undecodable data URI": (lambda h: body(text(), image("data:image/png;base64,!!notb64!!")),
                             400, "InvalidParameter", URL),
    "data URI that is not an image": (lambda h: body(text(), image(
        "data:image/png;base64," + base64.b64encode(b"plain text, not pixels").decode())), 400,
        "InvalidParameter", URL),
    "video_url content": (lambda h: body(text(), {"type": "video_url", "video_url": {
        "url": "https://example.com/a.mp4"}, "role": "reference_video"}), 400,
        "InvalidParameter", "content[1].video_url.url"),   # 1.0 takes no reference video
    "draft_task content": (lambda h: body({"type": "draft_task", "draft_task": {
        "id": "cgt-20250101000000-abcde"}}), 400, "InvalidParameter", "content[0].draft_task.id"),
    "unknown content type": (lambda h: body(text(), {"type": "hologram"}), 400,
                             "InvalidParameter", "content[1]"),
    "missing content": (lambda h: {"model": VIDEO_MODEL}, 400, "MissingParameter", "content"),
    "empty content": (lambda h: body(), 400, "MissingParameter", "content"),
    "missing model": (lambda h: {"content": [text()]}, 400, "MissingParameter", "model"),
    "image without url": (lambda h: body(text(), {"type": "image_url", "image_url": {}}), 400,
                          "MissingParameter", URL),
    "duration of the wrong type": (lambda h: body(text(), duration="five"), 400,
                                   "InvalidParameter", "duration"),
    "content not a list": (lambda h: {"model": VIDEO_MODEL, "content": "a cat"}, 400,
                           "InvalidParameter", "content"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_a_4xx_naming_the_parameter(http: httpx.Client, images: ImageHost,
                                                 name: str) -> None:
    make, status, code, param = CASES[name]
    response = http.post(TASKS, json=make(images))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, TYPES[status])
    assert error["message"]


@pytest.mark.parametrize(("raw", "content_type"), [
    (b'{"model": "x", "content": [', "application/json"),
    (b"", "application/json"),
    (b"model=x", "application/x-www-form-urlencoded"),
    (b"\xff\xfe\x00", "application/json"),
])
def test_unparseable_bodies_are_400(http: httpx.Client, raw: bytes, content_type: str) -> None:
    response = http.post(TASKS, content=raw, headers={"Content-Type": content_type})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "BadRequest" and error["param"] in ("body", "content", "model")


def test_unknown_task_is_404(http: httpx.Client) -> None:
    response = http.get(f"{TASKS}/cgt-20200101000000-nothere")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "ResourceNotFound", "message": response.json()["error"]["message"],
        "param": "id", "type": "NotFound"}


def test_bad_key_is_401(server: Server) -> None:
    client = Ark(base_url=server.base_url, api_key="not-a-key")
    with pytest.raises(ArkAuthenticationError) as caught:
        client.content_generation.tasks.list()
    assert caught.value.status_code == 401 and caught.value.code == "AuthenticationError"
    missing = httpx.get(f"{server.base_url}{TASKS}")
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "Unauthorized"


def test_sdk_errors_carry_code_param_and_request_id(volc: Ark, byteplus: Any) -> None:
    for client in (volc, byteplus):
        with pytest.raises(Exception) as caught:
            client.content_generation.tasks.create(
                model=VIDEO_MODEL, content=[text("x --rt 5:4")])
        error = caught.value
        assert type(error).__name__ == "ArkBadRequestError"
        assert (error.status_code, error.code, error.param) == (400, "InvalidParameter", "ratio")
        # the SDK reads request_id from the echoed X-Client-Request-Id header
        assert error.request_id and error.request_id[:14].isdigit()
    with pytest.raises(ArkNotFoundError) as caught:
        volc.content_generation.tasks.get(task_id="cgt-20200101000000-nothere")
    assert caught.value.request_id


def test_client_request_id_and_engine_headers(http: httpx.Client) -> None:
    response = http.post(TASKS, json=body(text()), headers={"X-Client-Request-Id": "req-123"})
    assert response.status_code == 200
    assert response.headers["X-Client-Request-Id"] == "req-123"
    assert response.headers["X-Framecast-Engine"] == "motion"
    bad = http.post(TASKS, json=body(text("x --rs 4k")), headers={"X-Client-Request-Id": "r2"})
    assert bad.status_code == 400 and bad.headers["X-Client-Request-Id"] == "r2"


def test_null_fields_and_unknown_fields_are_accepted(http: httpx.Client) -> None:
    response = http.post(TASKS, json=body(text(), seed=None, ratio=None, draft=False,
                                          tools=None, some_future_field={"x": 1}))
    assert response.status_code == 200 and response.json()["id"].startswith("cgt-")


# -- the SSRF guard (a second server that does not allow private addresses) ------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/first.png",            # loopback (the image server itself)
    "http://169.254.169.254/latest/meta-data/",     # cloud metadata
    "http://10.0.0.1/a.png",                         # private
    "http://[::1]:{port}/first.png",                 # IPv6 loopback
    "http://0x7f000001:{port}/first.png",            # loopback in disguise
])
def test_private_addresses_are_refused(guarded_server: Server, images: ImageHost,
                                       url: str) -> None:
    response = httpx.post(
        f"{guarded_server.base_url}{TASKS}", timeout=30,
        headers={"Authorization": f"Bearer {API_KEY}"},
        json=body(text(), image(url.format(port=images.port))))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == URL


def test_metadata_address_is_refused_even_where_private_urls_are_allowed(
        http: httpx.Client) -> None:
    response = http.post(TASKS, json=body(text(), image("http://169.254.169.254/latest/")))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == URL


def test_bad_request_is_not_retried_by_the_sdk(server: Server) -> None:
    seen: list[str] = []
    transport = httpx.HTTPTransport()

    class Counting(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request.method)
            return transport.handle_request(request)

    client = Ark(base_url=server.base_url, api_key=API_KEY,
                 http_client=httpx.Client(transport=Counting()))
    with pytest.raises(ArkBadRequestError):
        client.content_generation.tasks.create(model=VIDEO_MODEL, content=[text("x --dur 1")])
    assert seen == ["POST"]
