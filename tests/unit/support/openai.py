"""Helpers of the OpenAI dialect's unit tests: the registry, specs, uploads and tasks."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from framecast.core.spec import VideoSpec
from framecast.core.task import OutputFile, Task, TaskStatus
from framecast.dialects.openai import translate
from framecast.service.registry import Registry

REGISTRY = Registry.load(None)


IMG = "https://example.com/first.png"


def spec_of(**data: Any) -> VideoSpec:
    data.setdefault("prompt", "a paper boat")
    return translate.video_spec_from_wire(translate.parse_create(data), REGISTRY)


# -- the Video object ------------------------------------------------------------------------


def make_task(status: TaskStatus, **spec: Any) -> Task:
    base = {"model": "seedance-1-5-pro", "prompt": "boat", "resolution": "720p",
            "ratio": "16:9", "width": 1280, "height": 720, "duration": 4, "fps": 24,
            "seed": 5, "camera_fixed": True}
    return Task(id="cgt-20250101000000-aaaaaaaa", owner_id="o", kind="video",
                model="seedance-1-5-pro", engine="motion", status=status,
                spec={**base, **spec}, dialect="openai", usage_tokens=100,
                created_at=1_750_000_000.5, updated_at=1_750_000_010.0, progress=0.42,
                finished_at=1_750_000_020.9 if status.terminal else None, seed=5)


# -- multipart and JSON bodies ------------------------------------------------------------


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def image_task(status: TaskStatus) -> Task:
    task = make_task(status)
    task.kind, task.model, task.engine, task.usage_tokens = "image", "m", "testcard", 4096
    task.outputs = [OutputFile("image.png", "k", "image/png")]
    return task
