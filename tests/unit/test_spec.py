"""Unit tests of ``core/spec.py``: the rules every video spec keeps, with the core's own
field names (``images``, ``fps``; each dialect renames them in its envelope)."""

from __future__ import annotations

import pytest

from framecast.core.errors import InvalidInput
from framecast.core.spec import ImageInput, VideoSpec


def first(width: int = 1000, height: int = 750, role: str = "first_frame") -> ImageInput:
    return ImageInput(role=role, url="data:", width=width, height=height)


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"images": [first(role="last_frame")]}, "images"),
    ({"images": [first(), first(role="reference_image")]}, "images"),
    ({"images": [first(role="reference_image")] * 5}, "images"),
    ({"images": [first(), first()]}, "images"),
    ({"duration": 5, "frames": 29}, "frames"),
    ({"duration": 31}, "duration"),          # past the longest model's (2.5: 30 s)
    ({"duration": -2}, "duration"),
    ({"frames": 31}, "frames"),
    ({"seed": -2}, "seed"),
    ({"seed": 2**32}, "seed"),
    ({"fps": 30}, "fps"),
    ({"execution_expires_after": 60}, "execution_expires_after"),
    ({"images": [first(role="reference_image")], "resolution": "1080p"}, "resolution"),
])
def test_video_rules(kwargs: dict, param: str) -> None:
    with pytest.raises(InvalidInput) as e:
        VideoSpec(model="m", **kwargs)
    assert e.value.param == param
