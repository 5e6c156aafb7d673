"""Support for the AI/ML API and OpenAI acceptance tests: polling each dialect's task over
HTTP or through the official ``openai`` SDK, and checking an error envelope.

The server, the loopback image server and the static key are the session fixtures of
``conftest.py`` (``server``, ``images``, ``http``); nothing here starts a process.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.acceptance.support.server import API_KEY, POLL_S, TASK_TIMEOUT_S, Server

AIML_PENDING = ("queued", "generating")
OPENAI_PENDING = ("queued", "in_progress")
AIML_ENVELOPE = {"message", "path", "requestId", "statusCode", "timestamp"}


def root_client(server: Server, api_key: str = API_KEY) -> httpx.Client:
    """A plain HTTP client on the server's root (the conftest ``http`` client is rooted at
    the Ark prefix ``/api/v3``); close it when done."""
    return httpx.Client(base_url=server.root, timeout=60.0,
                        headers={"Authorization": f"Bearer {api_key}"})


def openai_client(server: Server, api_key: str = API_KEY, **kwargs: Any) -> Any:
    """The official ``openai`` SDK pointed at the server (``/v1``)."""
    from openai import OpenAI

    return OpenAI(api_key=api_key, base_url=f"{server.root}/v1", **kwargs)


def wait_video(client: Any, video_id: str, *, until: tuple[str, ...] = ("completed", "failed"),
               timeout_s: float = TASK_TIMEOUT_S) -> Any:
    """Poll ``client.videos.retrieve`` until the status is one of ``until``."""
    deadline = time.monotonic() + timeout_s
    while True:
        video = client.videos.retrieve(video_id)
        if video.status in until:
            return video
        if video.status not in OPENAI_PENDING or time.monotonic() > deadline:
            raise AssertionError(f"video {video_id} is {video.status} (waiting for {until}): "
                                 f"{video.error}")
        time.sleep(POLL_S)


def wait_generation(http: httpx.Client, generation_id: str, *,
                    path: str = "/v2/video/generations",
                    timeout_s: float = TASK_TIMEOUT_S) -> dict[str, Any]:
    """Poll ``GET <path>?generation_id=`` until the status is no longer pending."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = http.get(path, params={"generation_id": generation_id})
        assert response.status_code == 200, response.text
        data = response.json()
        if data["status"] not in AIML_PENDING:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"generation {generation_id} still {data['status']}")
        time.sleep(POLL_S)


def assert_aiml_error(response: httpx.Response, status: int, param: str | None) -> None:
    """An AI/ML API envelope with ``status`` that names ``param`` (in ``param`` and, for a
    400, in the message)."""
    assert response.status_code == status, response.text
    data = response.json()
    assert set(data) >= AIML_ENVELOPE, data
    assert data["statusCode"] == str(status) and data.get("param") == param, data
    if status == 400 and param:
        assert param.split("[")[0] in data["message"], data
