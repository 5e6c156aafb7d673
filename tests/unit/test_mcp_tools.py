"""Unit tests of Framecast's MCP tools, through the ``mcp`` SDK's in-process client and a fake
task service: the Seedance tool's schema is seed 004's, its rules answer in its own words, and
task answers are structured, with progress that only grows.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult

from framecast.core.errors import InvalidState, NotFound
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.core.task import OutputFile, Task, TaskStatus
from framecast.mcp.results import Caller, TaskResult
from framecast.mcp.tools import build_server
from framecast.service.registry import Registry

SEEDANCE = "seedance_generate_video_from_image"
PNG = "https://example.com/first.png"

# seed 004: name, required, default, description (the package's defaults where the seed's
# table leaves the column blank)
SEED_004: list[tuple[str, bool, Any, str]] = [
    ("prompt", True, None, "Description of the video motion and content. Describe what should "
     "happen in the video, how objects should move, what transitions to include."),
    ("first_frame_url", False, "", "URL of the image to use as the first frame of the video. "
     "The video will animate from this image. Supports https:// URLs or base64 data:image/... "
     "URIs."),
    ("last_frame_url", False, "", "URL of the image to use as the last frame of the video. The "
     "video will animate towards this image. Supports https:// URLs or base64 data:image/... "
     "URIs."),
    ("reference_image_urls", False, [], "List of reference image URLs for style/content "
     "guidance. These images influence the look but are not used as frames. Cannot be "
     "combined with first_frame_url or last_frame_url."),
    ("model", False, "doubao-seedance-1-0-pro-250528", "Model version to use. For "
     "image-to-video, consider 'doubao-seedance-1-0-lite-i2v-250428' for lightweight I2V, or "
     "any Pro model for higher quality."),
    ("resolution", False, "720p", "Video resolution. Options: '480p', '720p', '1080p'."),
    ("ratio", False, "16:9", "Video aspect ratio. Use 'adaptive' to match your input image "
     "ratio."),
    ("duration", False, None, "Video duration in seconds. Range: 2-12. Default is 5. Mutually "
     "exclusive with 'frames'."),
    ("frames", False, None, "Frame count for the generated video. Must satisfy 25+4n (e.g. 29, "
     "33, 37, ..., 289). Mutually exclusive with 'duration'."),
    ("generate_audio", False, False, "If true, generate audio. Only supported by 1.5 Pro model. "
     "Default is false."),
    ("service_tier", False, "default", "Service tier. 'default' or 'flex' (50%% cheaper). "
     "Default is 'default'."),
    ("seed", False, -1, "Random seed. -1 for random. Default is -1."),
    ("return_last_frame", False, False, "If true, return the last frame of the generated video. "
     "Default is false."),
    ("callback_url", False, None, "Webhook callback URL for asynchronous notifications."),
    ("execution_expires_after", False, 172800, "Task timeout threshold in seconds. Default is "
     "172800 (48 hours)."),
]


class FakeService:
    """Just enough of ``TaskService`` for the tools: tasks in a dict, scripted progress."""

    def __init__(self) -> None:
        self.registry = Registry.load(None)
        self.limits = SimpleNamespace(image_wait_s=5.0)
        self.storage = SimpleNamespace()
        self.tasks: dict[str, Task] = {}
        self.created: list[tuple[Any, str, str]] = []
        self.script: list[tuple[TaskStatus, float]] = []   # what each `get` moves the task to

    async def create_video(self, spec: VideoSpec, *, owner_id: str, dialect: str) -> Task:
        return self._create(spec, owner_id, dialect, "video")

    async def create_image(self, spec: ImageSpec, *, owner_id: str, dialect: str) -> Task:
        return self._create(spec, owner_id, dialect, "image")

    def _create(self, spec: Any, owner_id: str, dialect: str, kind: str) -> Task:
        self.created.append((spec, owner_id, dialect))
        task = Task(id=f"t{len(self.created)}", owner_id=owner_id, kind=kind, model=spec.model,
                    engine="motion" if kind == "video" else "testcard",
                    status=TaskStatus.QUEUED, spec=spec.model_dump(mode="json"),
                    dialect=dialect, created_at=1.0, updated_at=1.0)
        self.tasks[task.id] = task
        return task

    def get(self, task_id: str, *, owner_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None or task.owner_id != owner_id:
            raise NotFound(f"task {task_id} not found")
        if self.script and not task.terminal:
            status, progress = self.script.pop(0)
            task = replace(task, status=status, progress=progress)
            if status == TaskStatus.SUCCEEDED:
                name = "video.mp4" if task.kind == "video" else "image.png"
                task.outputs = [OutputFile(name, f"k/{name}", "x/y")]
            self.tasks[task_id] = task
        return task

    def cancel(self, task_id: str, *, owner_id: str) -> Task:
        task = self.get(task_id, owner_id=owner_id)
        if task.terminal:
            raise InvalidState(f"a {task.status.value} task cannot be cancelled")
        self.tasks[task_id] = replace(task, status=TaskStatus.CANCELLED)
        return self.tasks[task_id]

    def file_url(self, task: Task, name: str) -> str | None:
        return f"https://files.example/{task.id}/{name}" if task.output(name) else None

    def file_bytes(self, task: Task, name: str) -> bytes | None:
        return b"\x89PNG" if task.output(name) else None


def call(service: FakeService, *calls: tuple[str, dict[str, Any]], owner: str = "me",
         progress: Callable[..., Any] | None = None) -> list[CallToolResult]:
    """Run tool calls through the SDK's in-process client."""
    caller = Caller(service=service, owner_id=owner)  # type: ignore[arg-type]
    server = build_server(lambda ctx: caller)

    async def run() -> list[CallToolResult]:
        async with Client(server) as client:
            return [await client.call_tool(name, args, progress_callback=progress)
                    for name, args in calls]

    return anyio.run(run)


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def seedance_schema() -> dict[str, Any]:
    server = build_server(lambda ctx: None)  # type: ignore[arg-type, return-value]
    tools = anyio.run(server.list_tools)
    return next(t for t in tools if t.name == SEEDANCE).input_schema


@pytest.mark.parametrize(("name", "required", "default", "description"), SEED_004,
                         ids=[row[0] for row in SEED_004])
def test_seedance_schema_is_seed_004(name: str, required: bool, default: Any,
                                     description: str) -> None:
    schema = seedance_schema()
    prop = schema["properties"][name]
    assert (name in schema["required"]) is required
    assert prop["description"] == description
    if not required:
        assert prop["default"] == default


def test_seedance_schema_names_and_types() -> None:
    schema = seedance_schema()
    assert list(schema["properties"]) == [row[0] for row in SEED_004]
    props = schema["properties"]
    assert props["model"]["enum"] == [
        "doubao-seedance-1-5-pro-251215", "doubao-seedance-1-0-pro-250528",
        "doubao-seedance-1-0-pro-fast-251015", "doubao-seedance-1-0-lite-t2v-250428",
        "doubao-seedance-1-0-lite-i2v-250428"]
    assert props["ratio"]["enum"] == ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"]
    assert props["resolution"]["enum"] == ["480p", "720p", "1080p"]
    assert props["reference_image_urls"]["items"] == {"type": "string"}
    assert {"type": "integer", "minimum": 2, "maximum": 12} in props["duration"]["anyOf"]
    assert (props["seed"]["minimum"], props["seed"]["maximum"]) == (-1, 4294967295)


@pytest.mark.skipif(not os.environ.get("FRAMECAST_TEST_SEEDANCE_PYTHON"),
                    reason="mcp-seedance lives in its own environment (mcp<2): set "
                           "FRAMECAST_TEST_SEEDANCE_PYTHON, as `make test` does")
def test_seedance_schema_equals_the_installed_packages() -> None:
    """The package's own tool, listed by its own interpreter (``.venv-seedance``, where it is
    installed as published; its modules are named ``core`` and ``tools``)."""
    script = (
        "import asyncio, json, sys\n"
        "from core.server import mcp\nimport tools.video_tools\n"
        "t = [t for t in asyncio.run(mcp.list_tools()) if t.name == sys.argv[1]][0]\n"
        "print(json.dumps({'schema': t.inputSchema, 'description': t.description}))\n")
    done = subprocess.run([os.environ["FRAMECAST_TEST_SEEDANCE_PYTHON"], "-c", script,
                           SEEDANCE], capture_output=True, text=True, timeout=60,
                          env={"ACEDATACLOUD_API_TOKEN": "x", "LOG_LEVEL": "ERROR"})
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    server = build_server(lambda ctx: None)  # type: ignore[arg-type, return-value]
    ours = next(t for t in anyio.run(server.list_tools) if t.name == SEEDANCE)
    assert ours.input_schema == theirs["schema"]
    assert ours.description == theirs["description"]


@pytest.mark.parametrize(("args", "answer"), [
    ({}, "Error: At least one of first_frame_url, last_frame_url, or reference_image_urls "
         "must be provided."),
    ({"first_frame_url": PNG, "reference_image_urls": [PNG]},
     "Error: reference_image_urls cannot be combined with first_frame_url or last_frame_url."),
    ({"last_frame_url": PNG, "reference_image_urls": [PNG]},
     "Error: reference_image_urls cannot be combined with first_frame_url or last_frame_url."),
    ({"first_frame_url": PNG, "frames": 29, "duration": 5},
     "Error: 'frames' and 'duration' are mutually exclusive. Provide only one."),
    ({"first_frame_url": PNG, "frames": 30}, "Error: 'frames' must satisfy 25+4n"),
    ({"first_frame_url": PNG, "frames": 25}, "Error: 'frames' must satisfy 25+4n"),
    ({"first_frame_url": PNG, "frames": 293}, "Error: 'frames' must satisfy 25+4n"),
    ({"first_frame_url": PNG, "callback_url": "ftp://hooks.example/x"},
     "Error: 'callback_url' must be an http(s) URL."),
    ({"last_frame_url": PNG}, "Error: an image with role `last_frame` needs"),
    ({"reference_image_urls": [PNG] * 5}, "Error: at most 4 `reference_image` images"),
])
def test_seedance_rules_answer_in_the_tools_words(args: dict[str, Any], answer: str) -> None:
    service = FakeService()
    (result,) = call(service, (SEEDANCE, {"prompt": "p", **args}))
    assert result.is_error and text(result).startswith(answer)
    assert result.structured_content is None and service.created == []


@pytest.mark.parametrize("args", [{"duration": 1}, {"duration": 13}, {"seed": -2},
                                  {"model": "seedance-9"}, {"ratio": "2:1"}])
def test_schema_constraints_are_enforced(args: dict[str, Any]) -> None:
    service = FakeService()
    (result,) = call(service, (SEEDANCE, {"prompt": "p", "first_frame_url": PNG, **args}))
    assert result.is_error and next(iter(args)) in text(result) and service.created == []


def test_arguments_become_a_spec_like_the_packages_payload() -> None:
    service = FakeService()
    first, _ = call(
        service,
        (SEEDANCE, {"prompt": "morph", "first_frame_url": PNG, "last_frame_url": PNG,
                    "resolution": "480p", "return_last_frame": True,
                    "callback_url": "https://hooks.example/x"}),
        (SEEDANCE, {"prompt": "style", "reference_image_urls": [PNG, PNG], "frames": 33,
                    "seed": 9, "service_tier": "flex", "model":
                    "doubao-seedance-1-0-lite-i2v-250428"}))
    (spec, owner, dialect), (spec2, _, _) = service.created
    assert (owner, dialect) == ("me", "acedata")
    assert [(i.role, i.param) for i in spec.images] == [("first_frame", "first_frame_url"),
                                                        ("last_frame", "last_frame_url")]
    assert (spec.duration, spec.frames, spec.seed, spec.ratio, spec.resolution) == \
        (5, None, None, "16:9", "480p")     # duration defaults to 5; seed -1 is random
    assert spec.return_last_frame and spec.callback_url == "https://hooks.example/x"
    assert [i.param for i in spec2.images] == ["reference_image_urls[0]",
                                               "reference_image_urls[1]"]
    assert (spec2.frames, spec2.duration, spec2.seed, spec2.service_tier) == (33, None, 9, "flex")
    result = TaskResult.model_validate(first.structured_content)
    assert (result.task_id, result.status, result.kind) == ("t1", "queued", "video")
    assert "wait_for_task" in text(first)


def test_wait_for_task_reports_progress_that_only_grows() -> None:
    service = FakeService()
    service.script = [(TaskStatus.RUNNING, 0.3), (TaskStatus.RUNNING, 0.2),   # a re-run dips
                      (TaskStatus.RUNNING, 0.5), (TaskStatus.SUCCEEDED, 1.0)]
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, total, message))

    _, waited = call(service, (SEEDANCE, {"prompt": "p", "first_frame_url": PNG}),
                     ("wait_for_task", {"task_id": "t1"}), progress=progress)
    assert [v for v, _, _ in seen] == [30, 50, 100]
    assert seen[-1] == (100, 100, "succeeded")
    done = waited.structured_content
    assert done is not None and (done["status"], done["progress"]) == ("succeeded", 100)
    assert done["video_url"] == "https://files.example/t1/video.mp4" and done["video_path"] is None


def test_images_get_cancel_and_models() -> None:
    service = FakeService()
    service.script = [(TaskStatus.SUCCEEDED, 1.0)]
    image, inline, empty, bad_size, unknown, cancel_done, models = call(
        service,
        ("seedream_generate_image", {"prompt": "a cat", "size": "512x512", "seed": 4}),
        ("seedream_generate_image", {"prompt": "a cat", "response_format": "b64_json",
                                     "wait": False}),
        ("seedream_generate_image", {"prompt": "  "}),
        ("seedream_generate_image", {"prompt": "a cat", "guidance_scale": 11}),
        ("get_task", {"task_id": "nope"}),
        ("cancel_task", {"task_id": "t1"}),
        ("list_models", {"kind": "image"}))
    spec = service.created[0][0]
    assert (spec.size, spec.seed, spec.watermark, spec.response_format) == \
        ("512x512", 4, True, "url")
    assert image.structured_content["image_url"] == "https://files.example/t1/image.png"
    assert inline.structured_content["status"] == "queued"       # wait=false
    assert empty.is_error and bad_size.is_error and "guidance_scale" in text(bad_size)
    assert unknown.is_error and "not found" in text(unknown)
    assert cancel_done.is_error and "cannot be cancelled" in text(cancel_done)
    listed = models.structured_content["models"]
    assert {m["kind"] for m in listed} == {"image"}
    assert "doubao-seedream-3-0-t2i-250415" in next(
        m for m in listed if m["id"] == "seedream-3-0-t2i")["aliases"]


def test_tasks_are_scoped_to_their_owner_and_queued_ones_cancel() -> None:
    service = FakeService()
    call(service, (SEEDANCE, {"prompt": "p", "first_frame_url": PNG}), owner="alice")
    (theirs,) = call(service, ("get_task", {"task_id": "t1"}), owner="bob")
    assert theirs.is_error
    (cancelled,) = call(service, ("cancel_task", {"task_id": "t1"}), owner="alice")
    assert cancelled.structured_content["status"] == "cancelled"
