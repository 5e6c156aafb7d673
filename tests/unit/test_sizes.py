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
