"""The image-to-video create of every dialect (and the native API), with an image URL, and
how each one's refusal names a field: for tests that send the same input through all of
them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.acceptance.support.server import API_KEY, VIDEO_MODEL


@dataclass(frozen=True)
class Way:
    """One dialect's create with an image URL, and how its answer names a refused field."""

    path: str
    body: Callable[[str], dict[str, Any]]
    field: str                                   # the image's field, in the dialect's words
    task_id: Callable[[dict[str, Any]], str]
    refusal: Callable[[httpx.Response], tuple[int, str]]   # (status, message naming the field)
    headers: dict[str, str] | None = None


def _error_message(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["message"]


WAYS = {
    "ark": Way("/api/v3/contents/generations/tasks",
               lambda url: {"model": VIDEO_MODEL, "content": [
                   {"type": "text", "text": "a harbour --rs 480p --frames 29"},
                   {"type": "image_url", "image_url": {"url": url}}]},
               "content[1].image_url.url", lambda d: d["id"], _error_message),
    "aiml": Way("/v2/video/generations",
                lambda url: {"model": "bytedance/seedance-1-0-pro-i2v", "prompt": "a harbour",
                             "image_url": url, "resolution": "480p"},
                "image_url", lambda d: d["id"],
                lambda r: (r.status_code, r.json()["message"])),
    "openai": Way("/v1/videos",
                  lambda url: {"prompt": "a harbour", "resolution": "480p",
                               "input_reference": {"image_url": url}},
                  "input_reference", lambda d: d["id"], _error_message),
    "acedata": Way("/seedance/videos",
                   lambda url: {"model": VIDEO_MODEL, "async": True, "content": [
                       {"type": "text", "text": "a harbour --rs 480p --frames 29"},
                       {"type": "image_url", "image_url": {"url": url}}]},
                   "content[1].image_url.url", lambda d: d["task_id"], _error_message),
    "wiro": Way("/v1/Run/ByteDance/image-to-video-seedance-v1",
                lambda url: {"inputImageUrl": url, "prompt": "a harbour", "resolution": "480p"},
                "inputImageUrl", lambda d: d["taskid"],
                lambda r: (400 if r.json()["result"] is False else r.status_code,
                           r.json()["errors"][0]["message"]),
                headers={"x-api-key": API_KEY}),
    "native": Way("/framecast/v1/videos",
                  lambda url: {"prompt": "a harbour", "resolution": "480p", "frames": 29,
                               "first_frame": url},
                  "first_frame", lambda d: d["id"], _error_message),
}
