"""Unit tests of the core: size tables, frame rule, tokens, spec rules, resolution, registry."""

from __future__ import annotations

import pytest

from framecast.core import sizes
from framecast.core.errors import InvalidInput, NotFound
from framecast.core.service import new_task_id, resolve_image_spec, resolve_video_spec
from framecast.core.spec import ImageInput, ImageSpec, VideoSpec
from framecast.core.task import TaskStatus, can_transition
from framecast.registry import Registry, parse_config


def first(width: int = 1000, height: int = 750, role: str = "first_frame") -> ImageInput:
    return ImageInput(role=role, url="data:", width=width, height=height)


@pytest.mark.parametrize(("family", "res", "ratio", "size"), [
    ("seedance-1.0", "480p", "16:9", (864, 480)),
    ("seedance-1.0", "720p", "21:9", (1504, 640)),
    ("seedance-1.0", "1080p", "16:9", (1920, 1088)),
    ("seedance-1.5", "720p", "4:3", (1112, 834)),
    ("seedance-1.5", "1080p", "9:16", (1080, 1920)),
    ("seedance-1.5", "480p", "9:21", (432, 992)),
])
def test_video_size_tables(family: str, res: str, ratio: str, size: tuple[int, int]) -> None:
    assert sizes.video_size(family, res, ratio) == size


def test_every_size_is_even_and_matches_its_ratio() -> None:
    for table in sizes.SIZE_TABLES.values():
        for res, ratios in table.items():
            assert set(ratios) == set(sizes.RATIOS), res
            for ratio, (w, h) in ratios.items():
                a, b = (int(x) for x in ratio.split(":"))
                assert w % 2 == 0 and h % 2 == 0
                assert abs(w / h - a / b) / (a / b) < 0.08, (res, ratio, w, h)


def test_bad_resolution_and_ratio_name_their_param() -> None:
    with pytest.raises(InvalidInput) as e:
        sizes.video_size("seedance-1.0", "4k", "16:9")
    assert e.value.param == "resolution"
    with pytest.raises(InvalidInput) as e:
        sizes.video_size("seedance-1.0", "720p", "2:1")
    assert e.value.param == "ratio"


def test_frame_rule() -> None:
    assert sizes.frame_count(duration=5, frames=None, fps=24) == 121
    assert sizes.frame_count(duration=12, frames=None, fps=24) == 289
    assert sizes.frame_count(duration=None, frames=None, fps=24) == 121
    assert sizes.frame_count(duration=5, frames=None, fps=16) == 81
    assert sizes.frame_count(duration=None, frames=33, fps=24) == 33
    for bad in (25, 30, 293, 28):
        with pytest.raises(InvalidInput) as e:
            sizes.check_frames(bad)
        assert e.value.param == "frames"


def test_tokens_match_vendor_examples() -> None:
    assert sizes.video_tokens(1280, 720, 121) == 108_900
    assert sizes.video_tokens(1920, 1088, 121) == 246_840
    assert sizes.video_tokens(1280, 720, 289) == 260_100
    assert sizes.image_tokens(1024, 1024) == 4096


def test_nearest_ratio() -> None:
    assert sizes.nearest_ratio(1920, 1080) == "16:9"
    assert sizes.nearest_ratio(1080, 1920) == "9:16"
    assert sizes.nearest_ratio(1000, 980) == "1:1"
    assert sizes.nearest_ratio(1400, 600) == "21:9"
    assert sizes.nearest_ratio(800, 600) == "4:3"


def test_image_sizes() -> None:
    assert sizes.parse_image_size("1024x768") == (1024, 768)
    assert sizes.parse_image_size("2K") == (2048, 2048)
    assert sizes.parse_image_size(None, default="512x512") == (512, 512)
    for bad in ("big", "100x100", "5000x5000", "1024"):
        with pytest.raises(InvalidInput) as e:
            sizes.parse_image_size(bad)
        assert e.value.param == "size"


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"images": [first(role="last_frame")]}, "content"),
    ({"images": [first(), first(role="reference_image")]}, "content"),
    ({"images": [first(role="reference_image")] * 5}, "content"),
    ({"images": [first(), first()]}, "content"),
    ({"duration": 5, "frames": 29}, "frames"),
    ({"duration": 13}, "duration"),
    ({"frames": 31}, "frames"),
    ({"seed": -2}, "seed"),
    ({"seed": 2**32}, "seed"),
    ({"fps": 30}, "framespersecond"),
    ({"execution_expires_after": 60}, "execution_expires_after"),
    ({"images": [first(role="reference_image")], "resolution": "1080p"}, "resolution"),
])
def test_video_rules(kwargs: dict, param: str) -> None:
    with pytest.raises(InvalidInput) as e:
        VideoSpec(model="m", **kwargs)
    assert e.value.param == param


def test_task_state_machine() -> None:
    assert can_transition(TaskStatus.QUEUED, TaskStatus.RUNNING)
    assert can_transition(TaskStatus.RUNNING, TaskStatus.QUEUED)
    assert not can_transition(TaskStatus.SUCCEEDED, TaskStatus.FAILED)
    assert not can_transition(TaskStatus.CANCELLED, TaskStatus.QUEUED)
    assert {s for s in TaskStatus if s.terminal} == {
        TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.EXPIRED}


def test_task_ids_look_like_the_vendors() -> None:
    tid = new_task_id("cgt", now=1_753_108_272)
    assert tid.startswith("cgt-20250721143112-") and len(tid) == len("cgt-20250721143112-") + 8
    assert new_task_id() != new_task_id()


def test_registry_resolves_both_spellings_case_insensitively() -> None:
    reg = Registry.load(None)
    for name in ("doubao-seedance-1-0-pro-250528", "seedance-1-0-pro-250528",
                 "bytedance/seedance-1-0-pro-i2v", "ByteDance/Image-To-Video-Seedance-V1",
                 "dreamina-seedance-2-0-260128"):
        assert reg.resolve(name).engine == "motion"
    assert reg.resolve("doubao-seedream-3-0-t2i-250415").engine == "testcard"
    with pytest.raises(NotFound) as e:
        reg.resolve("ep-20250101-nope")
    assert e.value.param == "model"
    with pytest.raises(NotFound):
        reg.resolve("seedream-3-0-t2i", kind="video")


def test_registry_config_overrides_builtin(tmp_path) -> None:
    cfg = tmp_path / "framecast.toml"
    cfg.write_text('[[models]]\nid = "my-wan"\nkind = "video"\nengine = "sleeps"\n'
                   'aliases = ["doubao-seedance-1-0-pro-250528"]\nsize_family = "seedance-1.5"\n'
                   '[models.options]\nseconds = 1\n')
    reg = Registry.load(cfg)
    entry = reg.resolve("doubao-seedance-1-0-pro-250528")
    assert entry.id == "my-wan" and entry.options == {"seconds": 1}
    assert reg.resolve("seedance-1-0-pro").engine == "motion"
    cfg.write_text('[[models]]\nid = "x"\nkind = "audio"\nengine = "motion"\n')
    with pytest.raises(Exception, match="kind must be video or image"):
        parse_config(cfg)


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
