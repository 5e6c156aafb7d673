"""Lateral moves travel into the picture the cover fit cut off before they zoom.

A 4:3 photograph in a 16:9 frame loses a band above and below to the crop: a tilt or a crane
moves into it with no zoom at all, while a pan, with nothing beyond the sides, still zooms
just enough to keep borders out (docs/engines.md gives the scale per move and source shape).
Measured the way a viewer sees it: features matched between frame 0 and the last frame of
the decoded MP4, on real photographs.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as photos

from framecast.core.spec import ImageInput, VideoSpec
from framecast.engines.base import EngineInputs, InputImage
from framecast.engines.motion import MotionEngine
from framecast.media.images import fit_cover, fit_cover_with_margins
from tests.unit.support.motion import run_motion

FRAMES = 29
LANDSCAPE = (864, 480)   # 480p 16:9
PORTRAIT = (480, 864)    # 480p 9:16


def four_by_three(name: str = "coffee") -> Image.Image:
    """A real photograph cut, centred, to exactly 4:3 (coffee: 600×400 → 528×396)."""
    image = Image.fromarray(np.asarray(getattr(photos, name)())[..., :3]).convert("RGB")
    w, h = image.size
    side = min(w // 4, h // 3)
    left, top = (w - 4 * side) // 2, (h - 3 * side) // 2
    return image.crop((left, top, left + 4 * side, top + 3 * side))


def render(prompt: str, source: Image.Image, size: tuple[int, int],
           work: Path) -> tuple[list[np.ndarray], dict]:
    """Run the engine on a first frame; (decoded RGB frames, the task's info)."""
    return run_motion(prompt, 1, [("first_frame", source)], work, size=size, frames=FRAMES,
                      pixel_format="rgb24")


def measured_motion(first: np.ndarray, last: np.ndarray) -> tuple[float, float, float]:
    """(scale, dx, dy) of the content from ``first`` to ``last``: ORB features matched and a
    similarity fitted with RANSAC (dx, dy in pixels, about the frame centre)."""
    orb = cv2.ORB_create(4000)
    g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (first, last))
    k0, d0 = orb.detectAndCompute(g0, None)
    k1, d1 = orb.detectAndCompute(g1, None)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d0, d1)
    assert len(matches) > 50
    p0 = np.float32([k0[m.queryIdx].pt for m in matches])
    p1 = np.float32([k1[m.trainIdx].pt for m in matches])
    m, inliers = cv2.estimateAffinePartial2D(p0, p1, method=cv2.RANSAC,
                                             ransacReprojThreshold=2.0)
    assert m is not None and int(inliers.sum()) > 30
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    h, w = first.shape[:2]
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    moved = m[:, :2] @ centre + m[:, 2] - centre
    return scale, float(moved[0]), float(moved[1])


def test_the_margined_canvas_holds_the_fit_and_the_picture_beyond_it() -> None:
    source = four_by_three()
    width, height = LANDSCAPE
    canvas, (mx, my) = fit_cover_with_margins(source, width, height)
    # 4:3 -> 16:9 cuts (1 - (4/3)/(16/9)) / 2 = 12.5% of the scaled height off top and bottom.
    scaled_height = source.height * width / source.width
    assert mx == 0 and my == int((scaled_height - height) / 2)
    assert canvas.size == (width, height + 2 * my)
    centre = np.asarray(canvas)[my:my + height]
    assert np.array_equal(centre, np.asarray(fit_cover(source, width, height)))
    # The margins are the photograph itself: the whole canvas is the source, resized.
    whole = np.asarray(source.resize(canvas.size, Image.Resampling.LANCZOS), dtype=np.float64)
    error = np.abs(np.asarray(canvas, dtype=np.float64) - whole)[:my].mean()
    assert error < 4.0, error


def test_margins_are_capped_and_absent_where_the_crop_cut_nothing() -> None:
    source = four_by_three()
    tall_crop = source.crop((0, 0, source.width, source.height // 4))   # 16:3, very wide
    _, (mx, my) = fit_cover_with_margins(tall_crop, *LANDSCAPE)
    assert my == 0 and mx == int(LANDSCAPE[0] * 0.25)
    same_shape = source.resize((864, 486))
    _, margins = fit_cover_with_margins(same_shape, 864, 486)
    assert margins == (0, 0)


@pytest.mark.parametrize(("prompt", "size", "axis", "sign"), [
    ("tilt up", LANDSCAPE, "dy", +1),        # content moves down, into the top margin
    ("crane down", LANDSCAPE, "dy", -1),
    ("pan left", PORTRAIT, "dx", +1),        # 4:3 in 9:16: the sides were cut off
    ("truck right", PORTRAIT, "dx", -1),
])
def test_a_lateral_move_into_the_margins_does_not_zoom(prompt: str, size: tuple[int, int],
                                                      axis: str, sign: int,
                                                      tmp_path: Path) -> None:
    frames, info = render(prompt, four_by_three(), size, tmp_path)
    scale, dx, dy = measured_motion(frames[0], frames[-1])
    assert scale <= 1.05, (prompt, scale, info)
    shift = {"dx": dx, "dy": dy}[axis] / size[0 if axis == "dx" else 1]
    assert sign * shift >= 0.07, (prompt, dx, dy)       # 8% (11% truck/crane) of the side
    assert info["camera_max_scale"] <= 1.05 and any(info["camera_margins_px"]), info


def test_a_pan_with_no_margin_beside_the_frame_zooms_as_documented(tmp_path: Path) -> None:
    """4:3 in 16:9 has its margins above and below, none at the sides: a pan cannot travel
    into picture that does not exist, so it zooms (docs/engines.md: 1.16× at strength 1)."""
    frames, info = render("pan left", four_by_three(), LANDSCAPE, tmp_path)
    scale, dx, _ = measured_motion(frames[0], frames[-1])
    assert info["camera_max_scale"] == pytest.approx(1.16, abs=0.01), info
    assert scale == pytest.approx(info["camera_max_scale"], abs=0.03)
    assert dx > 0.06 * LANDSCAPE[0]


def test_references_and_text_have_no_margins(tmp_path: Path) -> None:
    spec = VideoSpec(model="m", prompt="tilt up", resolution="480p", ratio="16:9",
                     width=LANDSCAPE[0], height=LANDSCAPE[1], frames_total=FRAMES, fps=24,
                     seed=1, frames=FRAMES,
                     images=[ImageInput(role="reference_image", url="data:")])
    inputs = EngineInputs(images=[InputImage(role="reference_image", image=four_by_three())],
                          work_dir=tmp_path)
    info = MotionEngine().run(spec, inputs, lambda step, total: None, lambda: False).info
    assert "camera_margins_px" not in info and info["camera_max_scale"] > 1.1
