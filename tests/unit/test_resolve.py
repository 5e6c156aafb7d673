"""Unit tests of ``service/resolve.py`` (every default filled, the exact output fixed) and of
the task ids ``service/tasks.py`` draws."""

from __future__ import annotations

import pytest

from framecast.core.errors import InvalidInput
from framecast.core.spec import ImageInput, ImageSpec, VideoSpec
from framecast.service.registry import Registry
from framecast.service.resolve import resolve_image_spec, resolve_video_spec
from framecast.service.tasks import new_task_id


def first(width: int = 1000, height: int = 750, role: str = "first_frame") -> ImageInput:
    return ImageInput(role=role, url="data:", width=width, height=height)


def test_task_ids_look_like_the_vendors() -> None:
    tid = new_task_id("cgt", now=1_753_108_272)
    assert tid.startswith("cgt-20250721143112-") and len(tid) == len("cgt-20250721143112-") + 8
    assert new_task_id() != new_task_id()


def test_resolve_video_spec_fills_everything() -> None:
    reg = Registry.load(None)
    spec = VideoSpec(model="doubao-seedance-1-0-lite-i2v-250428", images=[first(1600, 900)])
    out = resolve_video_spec(spec, reg.resolve(spec.model))
    assert (out.resolution, out.ratio, out.width, out.height) == ("720p", "16:9", 1248, 704)
    assert out.duration == 5 and out.frames_total == 121 and out.seed is not None
    t2v = resolve_video_spec(VideoSpec(model="seedance-1-5-pro", frames=29, seed=7),
                             reg.resolve("seedance-1-5-pro"))
    assert (t2v.ratio, t2v.width, t2v.height, t2v.frames_total, t2v.seed) == (
        "16:9", 1280, 720, 29, 7)
    portrait = resolve_video_spec(
        VideoSpec(model="seedance-1-0-pro", images=[first(900, 1600)], resolution="480p"),
        reg.resolve("seedance-1-0-pro"))
    assert (portrait.ratio, portrait.width, portrait.height) == ("9:16", 480, 864)


def test_resolve_refuses_unsupported_resolution() -> None:
    reg = Registry.load(None)
    spec = VideoSpec(model="seedance-2-0-fast", resolution="1080p")
    with pytest.raises(InvalidInput) as e:
        resolve_video_spec(spec, reg.resolve(spec.model))
    assert e.value.param == "resolution"


def test_resolve_image_spec() -> None:
    reg = Registry.load(None)
    out = resolve_image_spec(ImageSpec(model="seedream-3-0-t2i-250415"),
                             reg.resolve("seedream-3-0-t2i-250415"))
    assert (out.width, out.height, out.size) == (1024, 1024, "1024x1024")
    assert out.watermark is True
