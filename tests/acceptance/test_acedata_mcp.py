"""The AceData dialect, driven by the real ``mcp-seedance`` MCP server and by raw HTTP.

``mcp-seedance`` runs as a subprocess over stdio with ``ACEDATACLOUD_API_BASE_URL`` set to the
test server and ``ACEDATACLOUD_API_TOKEN`` to its key, and an ``mcp`` SDK client drives it:
``seedance_generate_video_from_image`` with a first frame from the loopback image server, then
``seedance_get_task`` until the package itself sees the task complete; the MP4 is checked.
``seedance_generate_video`` (text only) and ``seedance_get_tasks_batch`` are called too.
Raw HTTP covers what the package never sends: synchronous mode, batch retrieval, bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.acceptance.support.mcp import seedance_json, seedance_params, stdio_session
from tests.acceptance.support.server import (
    API_KEY,
    VIDEO_MODEL,
    ImageHost,
    Server,
    download,
    probe_mp4,
)

POLLS = 30                  # mcp-seedance sleeps 5 s on every poll of an unfinished task
SIZE_480P_16_9 = (864, 480)
FRAMES_2S = 49              # 24 fps × 2 s + 1


def test_mcp_seedance_generates_a_video_through_framecast(
        server: Server, images: ImageHost, http: httpx.Client, tmp_path: Path) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], set[str]]:
        params = seedance_params(server.root, API_KEY, tmp_path)
        async with stdio_session(params, tmp_path / "mcp-seedance.log") as session:
            names = {tool.name for tool in (await session.list_tools()).tools}
            submitted = seedance_json(await session.call_tool(
                "seedance_generate_video_from_image",
                {"prompt": "slow push in on the circle", "model": VIDEO_MODEL,
                 "first_frame_url": images.url("wide.jpg"), "resolution": "480p",
                 "duration": 2}))
            task_id = submitted["task_id"]
            text_only = seedance_json(await session.call_tool(
                "seedance_generate_video",
                {"prompt": "a quiet harbour", "model": VIDEO_MODEL, "resolution": "480p",
                 "duration": 2, "camera_fixed": True, "watermark": True}))
            polled: dict[str, Any] = {}
            for _ in range(POLLS):
                polled = seedance_json(await session.call_tool("seedance_get_task",
                                                               {"task_id": task_id}))
                if polled.get("response", {}).get("success") or polled["state"] == "failed":
                    break
            batch = seedance_json(await session.call_tool(
                "seedance_get_tasks_batch",
                {"task_ids": [task_id, "cgt-nope", text_only["task_id"]]}))
        return submitted, polled, batch, names

    submitted, polled, batch, names = anyio.run(scenario)

    assert "seedance_generate_video_from_image" in names
    assert submitted["success"] is True
    assert submitted["mcp_async_submission"]["task_id"] == submitted["task_id"]
    assert polled["state"] == "succeeded", polled
    assert polled["mcp_task_polling"]["task_id"] == submitted["task_id"]
    assert polled["response"]["trace_id"] == submitted["trace_id"]
    video = polled["response"]["data"][0]
    assert (video["status"], video["resolution"], video["ratio"], video["duration"]) == \
        ("succeeded", "480p", "16:9", 2)
    info = probe_mp4(download(video["content"]["video_url"]))
    assert ((info.width, info.height), info.frames, info.codec) == \
        (SIZE_480P_16_9, FRAMES_2S, "h264")
    assert batch["count"] == 2 and batch["items"][0]["id"] == submitted["task_id"]
    assert batch["success"] is True
    # the client logs "API returned success=false" after any answer without a top-level
    # `success: true`: never after a create or a batch query. (A single task's record has
    # none: this client would read a top-level `success` as "`data` is one task object"
    # and fail on AceData's list, so its polls keep that line.)
    log = (tmp_path / "mcp-seedance.log").read_text()
    calls = log.split("core.client:request:121 - POST ")[1:]
    assert len(calls) >= 4
    for call in calls:
        endpoint = call.split()[0]
        if endpoint.endswith("/seedance/videos") or "retrieve_batch" in call:
            assert "success=false" not in call, call[:2000]
    text_task = batch["items"][1]["data"][0]      # text-to-video: `camerafixed` understood
    assert text_task["resolution"] == "480p" and text_task["status"] != "failed"
    # the same key sees the task through the Ark API too
    ark = http.get(f"/contents/generations/tasks/{submitted['task_id']}").json()
    assert ark["status"] == "succeeded" and ark["model"] == VIDEO_MODEL


def test_synchronous_request_waits_for_the_video(server: Server, images: ImageHost,
                                                 http: httpx.Client) -> None:
    body = {"model": VIDEO_MODEL, "resolution": "480p", "ratio": "adaptive", "frames": 29,
            "return_last_frame": True,
            "content": [{"type": "text", "text": "static shot"},
                        {"type": "image_url", "image_url": {"url": images.url("tall.jpg")},
                         "role": "first_frame"}]}
    answer = http.post(f"{server.root}/seedance/videos", json=body, timeout=300.0)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["success"] is True and data["trace_id"]
    task = data["data"][0]
    assert (task["id"], task["status"], task["ratio"], task["frames"]) == \
        (data["task_id"], "succeeded", "9:16", 29)
    assert "duration" not in task and task["content"]["last_frame_url"]
    info = probe_mp4(download(task["content"]["video_url"]))
    assert ((info.width, info.height), info.frames) == ((480, 864), 29)
    record = http.post(f"{server.root}/seedance/tasks",
                       json={"id": data["task_id"], "action": "retrieve"}).json()
    assert record["state"] == "succeeded" and record["response"]["success"] is True


def _video(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": VIDEO_MODEL, "resolution": "480p", "duration": 2,
                            "callback_url": "https://api.acedata.cloud/health",
                            "content": [{"type": "text", "text": "a cat"},
                                        {"type": "image_url",
                                         "image_url": {"url": "http://127.0.0.1:9/x.png"},
                                         "role": "first_frame"}]}
    body.update(overrides)
    return body


def _image(url: str, role: str = "first_frame") -> list[dict[str, Any]]:
    return [{"type": "text", "text": "a cat"},
            {"type": "image_url", "image_url": {"url": url}, "role": role}]


BAD_VIDEOS: list[tuple[str, Any, str]] = [
    ("no-model", {"model": None}, "model"),
    ("content-not-list", {"content": "a cat"}, "content"),
    ("content-empty", {"content": []}, "content"),
    ("item-type", {"content": [{"type": "video_url", "video_url": {"url": "x"}}]},
     "content[0].type"),
    ("item-no-url", {"content": [{"type": "image_url", "image_url": {}}]},
     "content[0].image_url.url"),
    ("bad-role", {"content": _image("https://example.com/a.png", "style")}, "content[1].role"),
    ("ftp-url", {"content": _image("ftp://example.com/a.png")}, "content[1].image_url.url"),
    ("resolution", {"resolution": "4k"}, "resolution"),
    ("ratio", {"ratio": "2:1"}, "ratio"),
    ("duration-range", {"duration": 20}, "duration"),
    ("duration-type", {"duration": "five"}, "duration"),
    ("frames-rule", {"duration": None, "frames": 30}, "frames"),
    ("frames-and-duration", {"frames": 29}, "frames"),
    ("seed", {"seed": -2}, "seed"),
    ("expires", {"execution_expires_after": 10}, "execution_expires_after"),
    ("tier", {"service_tier": "turbo"}, "service_tier"),
    ("callback", {"callback_url": "ftp://example.com/hook"}, "callback_url"),
    ("async-type", {"async": "maybe"}, "async"),
    ("refs-and-first", {"content": [*_image("https://example.com/a.png"),
                                    *_image("https://example.com/b.png", "reference_image")[1:]]},
     "content"),
]


@pytest.mark.parametrize(("overrides", "param"), [(o, p) for _, o, p in BAD_VIDEOS],
                         ids=[name for name, _, _ in BAD_VIDEOS])
def test_bad_video_requests_name_the_field(server: Server, http: httpx.Client,
                                           overrides: dict[str, Any], param: str) -> None:
    body = {k: v for k, v in _video(**overrides).items() if v is not None}
    answer = http.post(f"{server.root}/seedance/videos", json=body)
    _assert_acedata_error(answer, param)


def test_bad_inputs_the_fetcher_finds(server: Server, images: ImageHost,
                                      http: httpx.Client) -> None:
    for name in ("missing.png", "tiny.png", "notes.txt", "fake.png"):
        answer = http.post(f"{server.root}/seedance/videos",
                           json=_video(content=_image(images.url(name))))
        _assert_acedata_error(answer, "content[1].image_url.url")


BAD_QUERIES: list[tuple[str, Any, str, int]] = [
    ("action", {"id": "x", "action": "delete"}, "action", 400),
    ("no-id", {"action": "retrieve"}, "id", 400),
    ("no-ids", {"action": "retrieve_batch", "ids": []}, "ids", 400),
    ("too-many-ids", {"action": "retrieve_batch", "ids": [f"t{n}" for n in range(101)]},
     "ids", 400),
    ("ids-type", {"action": "retrieve_batch", "ids": "a,b"}, "ids", 400),
    ("unknown-id", {"id": "cgt-20990101000000-nothere", "action": "retrieve"}, "id", 404),
]


@pytest.mark.parametrize(("body", "param", "status"), [(b, p, s) for _, b, p, s in BAD_QUERIES],
                         ids=[name for name, _, _, _ in BAD_QUERIES])
def test_bad_task_queries_name_the_field(server: Server, http: httpx.Client,
                                         body: dict[str, Any], param: str, status: int) -> None:
    answer = http.post(f"{server.root}/seedance/tasks", json=body)
    _assert_acedata_error(answer, param, status)


def test_malformed_json_and_auth(server: Server, http: httpx.Client) -> None:
    answer = http.post(f"{server.root}/seedance/videos", content=b"{not json",
                       headers={"content-type": "application/json"})
    _assert_acedata_error(answer, "body")
    for headers in ({}, {"Authorization": "Bearer wrong-key"}):
        answer = httpx.post(f"{server.root}/seedance/tasks", json={"id": "x"}, headers=headers)
        assert answer.status_code == 401      # mcp-seedance maps 401/403 to its auth error
        assert answer.json()["error"]["code"] == "invalid_token"
    unknown_model = http.post(f"{server.root}/seedance/videos", json=_video(model="no-such"))
    _assert_acedata_error(unknown_model, "model", 404)
    wrong_method = http.get(f"{server.root}/seedance/videos")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["message"]


def _assert_acedata_error(answer: httpx.Response, param: str, status: int = 400) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error", "trace_id"}, body
    error = body["error"]
    assert error["code"] == {400: "bad_request", 404: "not_found"}[status]
    assert error["param"] == param, body
    assert f"`{param}`" in error["message"] or param in error["message"], body
