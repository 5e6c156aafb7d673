"""Framecast's own MCP server, driven by the ``mcp`` SDK client over both transports.

* streamable HTTP at ``/mcp`` on the running test server, with the Bearer API key (401
  without one; another key's tasks are invisible), in both protocol eras (the 2025
  initialize handshake and the 2026-07-28 per-request protocol);
* stdio: ``framecast mcp`` in its own temporary data directory, acting as the key it wrote.

Each lists the tools, makes a video and waits for it with progress notifications (which must
only increase and end at 100), makes an image, looks at and cancels tasks, lists the models.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import ClientSession

from tests.acceptance.support.mcp import (
    ProgressLog,
    framecast_mcp_params,
    http_session,
    modern_http_client,
    stdio_session,
    structured,
    text_of,
)
from tests.acceptance.support.server import (
    API_KEY,
    SLEEPS_MODEL,
    VIDEO_MODEL,
    ImageHost,
    Server,
    download,
    png_size,
    probe_mp4,
)

TOOLS = {"seedance_generate_video_from_image", "seedream_generate_image", "get_task",
         "wait_for_task", "cancel_task", "list_models"}
VIDEO_ARGS = {"prompt": "slow pan right", "resolution": "480p", "duration": 2}
SIZE_480P_16_9 = (864, 480)
FRAMES_2S = 49


async def make_video_and_image(session: ClientSession, image_url: str) -> dict[str, Any]:
    """The common scenario; returns what the assertions need."""
    listed = (await session.list_tools()).tools
    created = structured(await session.call_tool(
        "seedance_generate_video_from_image", {**VIDEO_ARGS, "first_frame_url": image_url}))
    progress = ProgressLog()
    video = structured(await session.call_tool("wait_for_task", {"task_id": created["task_id"]},
                                               progress_callback=progress))
    image_progress = ProgressLog()
    image_result = await session.call_tool("seedream_generate_image",
                                           {"prompt": "a lighthouse", "size": "512x512"},
                                           progress_callback=image_progress)
    inline = await session.call_tool("seedream_generate_image",
                                     {"prompt": "a lighthouse", "size": "512x512",
                                      "response_format": "b64_json"})
    return {
        "tools": {tool.name: tool for tool in listed}, "created": created, "video": video,
        "progress": progress.values, "totals": {t for _, t, _ in progress.events},
        "image": structured(image_result), "image_progress": image_progress.values,
        "inline": inline, "again": structured(await session.call_tool(
            "get_task", {"task_id": created["task_id"]})),
        "missing": await session.call_tool("get_task", {"task_id": "cgt-nope"}),
        "bad": await session.call_tool("seedance_generate_video_from_image",
                                       {"prompt": "x", "first_frame_url": image_url,
                                        "frames": 30}),
        "models": structured(await session.call_tool("list_models", {})),
    }


def check_common(seen: dict[str, Any]) -> None:
    """Assertions shared by both transports."""
    tools = seen["tools"]
    assert set(tools) == TOOLS
    assert all(tool.output_schema for tool in tools.values())
    assert tools["seedance_generate_video_from_image"].input_schema["required"] == ["prompt"]
    assert seen["created"]["status"] in ("queued", "running")
    video = seen["video"]
    assert (video["status"], video["progress"], video["frames"]) == ("succeeded", 100,
                                                                     FRAMES_2S)
    values = seen["progress"]
    assert values and values == sorted(set(values)), values   # strictly increasing
    assert values[-1] == 100 and seen["totals"] == {100}
    assert seen["image"]["status"] == "succeeded" and seen["image"]["image_url"]
    assert seen["image_progress"] and seen["image_progress"][-1] == 100
    assert seen["again"]["video_url"] and seen["again"]["task_id"] == video["task_id"]
    assert seen["missing"].is_error and "not found" in text_of(seen["missing"])
    assert seen["bad"].is_error and text_of(seen["bad"]).startswith("Error: 'frames'")
    inline = seen["inline"]
    png = base64.b64decode(structured(inline)["b64_json"])
    assert png_size(png) == (512, 512)
    assert any(block.type == "image" for block in inline.content)
    ids = {m["id"]: m for m in seen["models"]["models"]}
    assert VIDEO_MODEL in ids["seedance-1-0-pro"]["aliases"]
    assert (ids["seedance-1-0-pro"]["kind"], ids["seedance-1-0-pro"]["engine"]) == \
        ("video", "motion")


def test_streamable_http(server: Server, images: ImageHost, http: httpx.Client) -> None:
    other_key = server.create_key("mcp-other")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        url = f"{server.root}/mcp"
        async with http_session(url, API_KEY) as session:
            seen = await make_video_and_image(session, images.url("wide.jpg"))
            seen["cancels"] = await cancel_scenario(session, http)
        async with modern_http_client(url, other_key) as client:   # the 2026-07-28 protocol
            mine = structured(await client.call_tool(
                "seedream_generate_image", {"prompt": "a boat", "size": "512x512"}))
            theirs = await client.call_tool("get_task", {"task_id": seen["video"]["task_id"]})
            cancel = await client.call_tool("cancel_task", {"task_id": seen["video"]["task_id"]})
            version = client.session.protocol_version
        return seen, {"get": theirs, "cancel": cancel, "mine": mine, "version": version}

    seen, other = anyio.run(scenario)
    check_common(seen)
    info = probe_mp4(download(seen["video"]["video_url"]))
    assert ((info.width, info.height), info.frames) == (SIZE_480P_16_9, FRAMES_2S)
    assert seen["video"]["video_path"] is None          # no server paths over HTTP
    assert png_size(download(seen["image"]["image_url"])) == (512, 512)
    queued, running, finished = seen["cancels"]
    assert queued["status"] == "cancelled" and queued["error"]["code"] == "cancelled"
    assert running["status"] == "cancelled"
    assert finished.is_error and "cannot" in text_of(finished)
    assert other["get"].is_error and other["cancel"].is_error   # another key's task: not found
    assert other["mine"]["status"] == "succeeded" and other["version"] == "2026-07-28"
    for headers in ({}, {"Authorization": "Bearer wrong-key"}):
        answer = httpx.post(f"{server.root}/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")


async def cancel_scenario(session: ClientSession, http: httpx.Client) -> list[Any]:
    """Two sleepers hold both slots, a third task waits: cancel it (queued → cancelled), then a
    sleeper (running → killed), then a finished task (refused)."""
    body = {"content": [{"type": "text", "text": "hold --rs 480p"}]}
    sleepers = [http.post("/contents/generations/tasks", json={**body, "model": SLEEPS_MODEL})
                .json()["id"] for _ in range(2)]
    for task_id in sleepers:
        for _ in range(300):
            if structured(await session.call_tool("get_task", {"task_id": task_id})
                          )["status"] == "running":
                break
            await anyio.sleep(0.1)
    third = http.post("/contents/generations/tasks",
                      json={**body, "model": VIDEO_MODEL}).json()["id"]
    queued = structured(await session.call_tool("cancel_task", {"task_id": third}))
    running = structured(await session.call_tool("cancel_task", {"task_id": sleepers[0]}))
    await session.call_tool("cancel_task", {"task_id": sleepers[1]})
    finished = await session.call_tool("cancel_task", {"task_id": third})
    return [queued, running, finished]


def test_stdio(images: ImageHost, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {"FRAMECAST_ALLOW_PRIVATE_URLS": "1"}

    async def scenario() -> dict[str, Any]:
        params = framecast_mcp_params(data_dir, env)
        async with stdio_session(params, tmp_path / "framecast-mcp.log") as session:
            seen = await make_video_and_image(session, images.url("wide.jpg"))
            long = structured(await session.call_tool(
                "seedance_generate_video_from_image",
                {**VIDEO_ARGS, "duration": 12, "first_frame_url": images.url("wide.jpg")}))
            seen["cancelled"] = structured(await session.call_tool(
                "cancel_task", {"task_id": long["task_id"]}))
        return seen

    seen = anyio.run(scenario)
    check_common(seen)
    video_path = Path(seen["video"]["video_path"])
    info = probe_mp4(video_path.read_bytes())
    assert ((info.width, info.height), info.frames) == (SIZE_480P_16_9, FRAMES_2S)
    assert video_path.is_relative_to(data_dir)
    assert seen["cancelled"]["status"] == "cancelled"
    key_file = data_dir / "api-key.txt"
    assert key_file.is_file()        # the first key, written as `serve` writes it

    # a key that is not valid: a clear message and exit status 2, nothing on stdout
    key_file.write_text("fc-not-a-key\n")
    done = subprocess.run([sys.executable, "-m", "framecast", "mcp", "--data-dir",
                           str(data_dir)], input="", capture_output=True, text=True,
                          timeout=60, env={**_plain_env(), **env})
    assert done.returncode == 2 and done.stdout == ""
    assert "not valid" in done.stderr


def _plain_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FRAMECAST_")}
