"""Helpers of the Ark dialect's unit tests: request pieces, specs and task records."""

from __future__ import annotations

from typing import Any

from framecast.core.spec import VideoSpec
from framecast.core.task import OutputFile, Task, TaskStatus
from framecast.dialects.ark import translate, wire

MODEL = "doubao-seedance-1-0-pro-250528"


PNG_URL = "https://example.com/first.png"


SDK_NULLS: dict[str, Any] = {
    # what the official SDKs send for every argument left out (api-dialects.md §2.2)
    "safety_identifier": None, "callback_url": None, "return_last_frame": None,
    "service_tier": None, "execution_expires_after": None, "priority": None,
    "generate_audio": None, "draft": None, "camera_fixed": None, "watermark": None,
    "seed": None, "resolution": None, "ratio": None, "duration": None, "frames": None,
    "tools": None, "output_format": None, "omni_reference_task_type": None,
}


def text(prompt: str) -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def image(url: str = PNG_URL, role: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if role is not None:
        item["role"] = role
    return item


def spec_of(*content: dict[str, Any], **fields: Any) -> VideoSpec:
    body = {"model": MODEL, "content": list(content), **SDK_NULLS, **fields}
    return translate.video_spec_from_wire(wire.CreateTaskRequest.model_validate(body))


# -- task rendering ---------------------------------------------------------------------------


def make_task(status: TaskStatus, **spec: Any) -> Task:
    resolved = {"model": MODEL, "resolution": "480p", "ratio": "16:9", "duration": 5,
                "frames": None, "fps": 24, "seed": 11, "camera_fixed": False, "watermark": False,
                "generate_audio": False, "return_last_frame": False,
                "execution_expires_after": 172800, "width": 864, "height": 480,
                "frames_total": 121, **spec}
    return Task(id="cgt-20250101000000-abcdefgh", owner_id="o", kind="video", model=MODEL,
                engine="motion", status=status, spec=resolved, seed=11, created_at=1700000000.7,
                updated_at=1700000005.2, usage_tokens=48600, progress=0.42,
                outputs=[OutputFile("video.mp4", "k/video.mp4", "video/mp4"),
                         OutputFile("last_frame.png", "k/last_frame.png", "image/png")])


def fake_url(task: Task, name: str) -> str | None:
    return f"http://files/{name}" if task.output(name) else None
