"""Input images through every dialect: refused from their header at create (a decompression
bomb, a picture too small or too wide, a text file, bad base64: a 4xx naming the field in the
dialect's own envelope, before anything is decoded), or accepted when their header is sound
and failed by the worker when their pixels are not (a truncated JPEG: the task ends failed,
its error naming the field as the client wrote it)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.acceptance.support.server import API_KEY, TASK_TIMEOUT_S, ImageHost, Server
from tests.acceptance.support.ways import WAYS, Way


def create(server: Server, way: Way, url: str) -> httpx.Response:
    headers = way.headers or {"Authorization": f"Bearer {API_KEY}"}
    return httpx.post(server.root + way.path, json=way.body(url), headers=headers,
                      timeout=60.0)


# What the header alone refuses, and the words that say why: a file of the image server, or a
# data URI as it is sent.
REFUSALS = {
    "bomb.png": "MP",                          # 43.6 MP in a few kB: before any decode
    "tiny.png": "short side must be at least 300 px",
    "panorama.png": "width/height must be within",
    "notes.txt": "not a",                      # "not an image" / "not a supported image"
    "data:image/png;base64,@@@@": "not valid base64",
}


@pytest.mark.parametrize("source", list(REFUSALS))
@pytest.mark.parametrize("dialect", list(WAYS))
def test_a_header_level_refusal_is_a_4xx_naming_the_field(server: Server, images: ImageHost,
                                                          dialect: str, source: str) -> None:
    way = WAYS[dialect]
    started = time.monotonic()
    url = source if source.startswith("data:") else images.url(source)
    words = REFUSALS[source]
    response = create(server, way, url)
    status, message = way.refusal(response)
    assert 400 <= status < 500, response.text
    assert way.field in message and words in message, message
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("dialect", list(WAYS))
def test_a_truncated_photo_is_accepted_then_fails_naming_the_field(
        server: Server, images: ImageHost, dialect: str) -> None:
    way = WAYS[dialect]
    response = create(server, way, images.url("truncated.jpg"))
    assert response.status_code in (200, 201), response.text
    task_id = way.task_id(response.json())
    native = httpx.Client(base_url=server.root, timeout=30.0,
                          headers={"Authorization": f"Bearer {API_KEY}"})
    with native:
        deadline = time.monotonic() + TASK_TIMEOUT_S
        while True:
            task = native.get(f"/framecast/v1/tasks/{task_id}").json()
            if task["status"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert task["status"] == "failed", task
    assert task["error"]["code"] == "InvalidParameter"
    assert f"`{way.field}`" in task["error"]["message"]
    assert "could not be decoded" in task["error"]["message"]
