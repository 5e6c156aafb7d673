"""Unit tests of ``core/sizes.py``: the pixel tables, the frame rule, tokens, ratios and image
sizes."""

from __future__ import annotations

import pytest

from framecast.core import sizes
from framecast.core.errors import InvalidInput


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


@pytest.mark.parametrize(("family", "size", "ratio", "pixels"), [
    ("seedream-4.0", "1K", "1:1", (1024, 1024)),
    ("seedream-4.0", "2K", "16:9", (2848, 1600)),
    ("seedream-4.5", "2K", "9:16", (1600, 2848)),
    ("seedream-4.5", "4K", "21:9", (6240, 2656)),
    ("seedream-5.0", "3K", "4:3", (3456, 2592)),
    ("seedream-5.0", "2k", "3:2", (2496, 1664)),
    ("seedream-4.0", "1600x600", "1:1", (1600, 600)),      # the vendor's own examples
    ("seedream-4.5", "3750x1250", "1:1", (3750, 1250)),
    ("seedream-4.0", "1280x720", "1:1", (1280, 720)),      # the smallest, at the edge
    ("seedream-4.0", "4096x4096", "1:1", (4096, 4096)),    # the largest
    ("seedream-4.0", "1024x512", "1:1", None),             # too few pixels
    ("seedream-4.0", "16384x1024", "1:1", (16384, 1024)),  # 1:16 at the edge, 16.7 MP
    ("seedream-4.0", "16400x1024", "1:1", None),           # past it
    ("seedream-4.5", "1500x1500", "1:1", None),            # vendor: invalid on 4.5
    ("seedream-4.0", "800x800", "1:1", None),              # vendor: invalid on 4.0
    ("seedream-4.0", "4097x4096", "1:1", None),
    ("seedream-4.0", "3K", "1:1", None),                   # 3K: 5.0 only
    ("seedream-4.5", "1K", "1:1", None),                   # 1K: 4.0 only
])
def test_seedream_sizes_per_model(family: str, size: str, ratio: str,
                                  pixels: tuple[int, int] | None) -> None:
    size_of = sizes.IMAGE_FAMILIES[family].size
    if pixels is None:
        with pytest.raises(InvalidInput) as caught:
            size_of(size, ratio=ratio)
        assert caught.value.param == "size"
    else:
        assert size_of(size, ratio=ratio) == pixels


def test_every_preset_holds_the_pixels_of_its_model() -> None:
    for family in sizes.IMAGE_FAMILIES.values():
        for preset in family.presets:
            for ratio in sizes.PRESET_RATIOS:
                w, h = family.size(preset, ratio=ratio)
                assert family.size(f"{w}x{h}", ratio="1:1") == (w, h), (family.name, preset)
                a, b = (int(x) for x in ratio.split(":"))
                assert abs(w * b / (h * a) - 1) < 0.02, (preset, ratio, w, h)


@pytest.mark.parametrize(("text", "ratio"), [
    ("a poster, 16:9", "16:9"), ("widescreen 21 : 9 banner", "21:9"), ("a 3/2 print", "3:2"),
    ("at 10:30 in the morning", None), ("version 1.16:9", None), ("a cat", None),
    ("5:4 then 9:16", "9:16"),
])
def test_the_ratio_a_prompt_states(text: str, ratio: str | None) -> None:
    assert sizes.ratio_in_text(text) == ratio


@pytest.mark.parametrize("size", ["2K", "4k", "2048x2048", "640 x 480", "1K"])
def test_size_forms_any_model_may_take(size: str) -> None:
    sizes.check_image_size_form(size)


@pytest.mark.parametrize("size", ["huge", "2K 16:9", "5K", "-1x5", "2048"])
def test_size_forms_no_model_takes(size: str) -> None:
    with pytest.raises(InvalidInput):
        sizes.check_image_size_form(size)
