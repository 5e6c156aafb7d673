"""Unit tests of ``service/resolve.py`` (every default filled, the exact output fixed) and of
the task ids ``service/tasks.py`` draws."""

from __future__ import annotations

import pytest

from framecast.core.errors import InvalidInput
from framecast.core.spec import ImageInput, ImageSpec, MediaInput, VideoSpec
from framecast.engines.base import Capabilities, check_capabilities
from framecast.service.registry import Registry
from framecast.service.resolve import (
    check_clip_lengths,
    check_video_spec,
    entry_capabilities,
    resolve_image_spec,
    resolve_video_spec,
)
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


def seedream(model: str = "seedream-4-0-250828", **fields: object) -> ImageSpec:
    """``fields`` as a Seedream request resolved by the built-in registry."""
    reg = Registry.load(None)
    return resolve_image_spec(ImageSpec(model=model, **fields), reg.resolve(model))


def reference(width: int, height: int) -> ImageInput:
    return ImageInput(role="reference_image", url="data:", width=width, height=height)


def test_a_seedream_preset_takes_the_ratio_the_prompt_states() -> None:
    out = seedream(prompt="a harbour at dawn, 16:9", size="2K")
    assert (out.width, out.height, out.size) == (2848, 1600, "2848x1600")
    assert out.output_format == "jpeg" and out.count == 1           # the vendor's default
    assert seedream(prompt="a harbour").size == "2048x2048"        # the model's default
    out = seedream("seedream-5-0-260128", prompt="a 9:16 poster", size="3K")
    assert out.size == "2304x4096"
    assert seedream("seedream-4-5-251128", prompt="a tall 2:3 print", size="4K").size == \
        "3328x4992"


def test_else_the_first_reference_images_ratio_else_square() -> None:
    assert seedream(prompt="the same, in autumn", size="2K",
                    images=[reference(1200, 800), reference(500, 500)]).size == "2496x1664"
    assert seedream(prompt="a lighthouse", size="1K").size == "1024x1024"


def test_seedream_sizes_are_checked_against_the_model() -> None:
    for model, size in (("seedream-4-5-251128", "1K"), ("seedream-4-0-250828", "800x800"),
                        ("seedream-4-0-250828", "3K")):
        with pytest.raises(InvalidInput) as caught:
            seedream(model, prompt="x", size=size)
        assert caught.value.param == "size"
    # the generic rules stay for Seedream 3.0 and the resellers' ids
    assert seedream("seedream-3-0-t2i-250415", prompt="x", size="512x768").size == "512x768"
    assert seedream("bytedance/seedream-v4-text-to-image", prompt="x",
                    size="1024x576").output_format == "png"


@pytest.mark.parametrize(("prompt", "max_images", "references", "count"), [
    ("four posters of one campaign", None, 0, 4),
    ("a set of 6 images of a fox", None, 0, 6),
    ("a set of 6 images of a fox", 3, 0, 3),            # never more than max_images
    ("twelve stickers", None, 5, 10),                   # references + outputs <= 15
    ("a comic strip", 4, 0, 4),                         # no count stated: max_images
    ("a comic strip", None, 0, 4),                      # neither: a set of 4
    ("a comic strip", 15, 14, 1),                       # 14 references leave room for 1
    ("0 images", None, 0, 1),
])
def test_how_many_images_a_set_holds(prompt: str, max_images: int | None, references: int,
                                     count: int) -> None:
    out = seedream(prompt=prompt, sequential=True, max_images=max_images,
                   images=[reference(800, 800)] * references)
    assert out.count == count
    assert len(out.output_names) == count


def test_image_sets_need_a_model_that_makes_them() -> None:
    with pytest.raises(InvalidInput) as caught:
        seedream("seedream-3-0-t2i-250415", prompt="four cats", sequential=True)
    assert caught.value.param == "sequential_image_generation"
    with pytest.raises(InvalidInput) as caught:
        seedream(prompt="x", images=[reference(800, 800)] * 15)
    assert caught.value.param in ("image", "images")   # (the engine holds 14 at most)


def clip(role: str, n: int, seconds: float | None = None) -> MediaInput:
    return MediaInput(role=role, url="https://clips.test/c", param=f"content[{n}].url",  # type: ignore[arg-type]
                      seconds=seconds)


def test_reference_clips_are_counted_against_the_model() -> None:
    reg = Registry.load(None)
    ok = VideoSpec(model="seedance-2-5", prompt="x", media=[clip("reference_video", n)
                                                           for n in range(10)])
    check_video_spec(ok, reg.resolve("seedance-2-5"), entry_capabilities(
        reg.resolve("seedance-2-5")))
    for model, media, param in (
            ("seedance-2-5", [clip("reference_video", n) for n in range(11)], "content[10].url"),
            ("seedance-2-0", [clip("reference_audio", n) for n in range(4)], "content[3].url"),
            ("seedance-2-0", [clip("reference_audio", 0)], "content[0].url"),   # audio alone
            ("seedance-1-5-pro", [clip("reference_video", 0)], "content[0].url")):
        entry = reg.resolve(model)
        with pytest.raises(InvalidInput) as caught:
            check_video_spec(VideoSpec(model=model, prompt="x", media=media), entry,
                             entry_capabilities(entry))
        assert caught.value.param == param, model


def test_clip_lengths_together_are_checked_per_kind() -> None:
    rules = Registry.load(None).resolve("seedance-2-0").rules
    check_clip_lengths(VideoSpec(model="m", media=[
        clip("reference_video", 1, 8.0), clip("reference_video", 2, 7.0),
        clip("reference_audio", 3, 15.0)]), rules)
    with pytest.raises(InvalidInput) as caught:
        check_clip_lengths(VideoSpec(model="m", media=[
            clip("reference_video", 1, 8.0), clip("reference_video", 2, 7.5)]), rules)
    assert caught.value.param == "content[2].url"


def test_an_engine_without_clips_refuses_them_naming_the_item() -> None:
    caps = Capabilities(kinds=frozenset({"video"}))
    with pytest.raises(InvalidInput) as caught:
        check_capabilities(caps, VideoSpec(model="wan", media=[clip("reference_audio", 2)]),
                           engine="wan_i2v")
    assert caught.value.param == "content[2].url"
