"""Helpers of the AI/ML dialect's unit tests: model ids, specs and task records."""

from __future__ import annotations

from typing import Any

from framecast.core.spec import VideoSpec
from framecast.core.task import Task, TaskStatus
from framecast.dialects.aiml import translate

PRO_I2V = "bytedance/seedance-1-0-pro-i2v"


PRO_T2V = "bytedance/seedance-1-0-pro-t2v"


PRO_FAST = "bytedance/seedance-1-0-pro-fast"


LITE_I2V = "bytedance/seedance-1-0-lite-i2v"


LITE_T2V = "bytedance/seedance-1-0-lite-t2v"


PRO_15 = "bytedance/seedance-1-5-pro"


IMG = "https://example.com/first.jpeg"


def spec_of(resolutions: list[str] | None = None, **body: Any) -> VideoSpec:
    return translate.video_spec_from_wire(translate.parse_request(body), resolutions)


# -- a task on the wire ----------------------------------------------------------------------


def make_task(status: TaskStatus, **spec: Any) -> Task:
    base = {"model": PRO_I2V, "prompt": "p", "resolution": "480p", "ratio": "16:9",
            "width": 864, "height": 480, "duration": 5, "fps": 24, "seed": 11}
    return Task(id="cgt-20250721143112-kkm5nabc", owner_id="o", kind="video", model=PRO_I2V,
                engine="motion", status=status, spec={**base, **spec}, dialect="ark",
                usage_tokens=48600, created_at=1_750_000_000.0, updated_at=1_750_000_060.0,
                progress=0.25)


def file_url(task: Task, name: str) -> str | None:
    return f"http://files/{task.id}/{name}" if task.output(name) else None
