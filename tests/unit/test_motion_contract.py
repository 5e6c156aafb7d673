"""The motion engine's one promise for image-to-video: the clip starts on the image the client
sent. For every camera word of the vocabulary, and 20 seeds with none, on real photographs
(scikit-image's samples), frame 0 decoded from the MP4 is the cover-fitted first frame
(Y-channel PSNR ≥ 40 dB); for first+last tasks, the last frame is the fitted last frame. A
move that cannot keep the promise (a pull back needs content outside the frame) is not
played, and the task says so in ``camera_not_applied``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as photos

from framecast.engines._camera import CAMERA_MOVES, plan_camera_moves
from framecast.media.images import fit_cover, fit_last_frame
from tests.unit.support.motion import run_motion

W, H = 864, 480          # 480p 16:9
FRAMES = 29
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
MIN_PSNR_DB = 40.0


def photo(name: str) -> Image.Image:
    return Image.fromarray(np.asarray(getattr(photos, name)())[..., :3]).convert("RGB")


def luma_psnr(frame_yuv: np.ndarray, rgb: np.ndarray) -> float:
    """PSNR of the decoded Y plane against ``rgb`` converted as the writer converts it."""
    expected = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)[:H]
    mse = float(np.mean((frame_yuv[:H].astype(np.float64) - expected.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def render(prompt: str, seed: int, images: list[tuple[str, Image.Image]],
           work: Path) -> tuple[list[np.ndarray], dict]:
    """Run the engine at 480p 16:9; (every decoded frame as I420, the task's info)."""
    return run_motion(prompt, seed, images, work, size=(W, H), frames=FRAMES)


WORDS = [name.replace("_", " ") for name in CAMERA_MOVES]


@pytest.mark.parametrize("words", WORDS)
def test_every_camera_word_starts_on_the_fitted_first_frame(words: str, tmp_path: Path) -> None:
    source = photo(PHOTOS[len(words) % len(PHOTOS)])
    frames, info = render(f"a {words} over the scene", 3, [("first_frame", source)], tmp_path)
    fitted = np.asarray(fit_cover(source, W, H))
    assert luma_psnr(frames[0], fitted) >= MIN_PSNR_DB, (words, info)
    played, not_played = info["camera"], info.get("camera_not_applied", [])
    assert played or not_played, info          # every word is played or said to be dropped


@pytest.mark.parametrize("seed", range(20))
def test_a_seeded_move_starts_on_the_fitted_first_frame(seed: int, tmp_path: Path) -> None:
    source = photo(PHOTOS[seed % len(PHOTOS)])
    frames, info = render("a quiet scene", seed, [("first_frame", source)], tmp_path)
    assert info["camera_source"] == "seed"
    fitted = np.asarray(fit_cover(source, W, H))
    assert luma_psnr(frames[0], fitted) >= MIN_PSNR_DB, (seed, info)


@pytest.mark.parametrize(("first", "last"), [("coffee", "chelsea"), ("astronaut", "rocket")])
def test_a_first_last_task_starts_and_ends_on_its_frames(first: str, last: str,
                                                         tmp_path: Path) -> None:
    a, b = photo(first), photo(last)
    frames, info = render("pull back, then orbit left", 5,
                          [("first_frame", a), ("last_frame", b)], tmp_path)
    fitted_a = fit_cover(a, W, H)
    fitted_b = fit_last_frame(b, a.size, W, H)
    assert luma_psnr(frames[0], np.asarray(fitted_a)) >= MIN_PSNR_DB
    assert luma_psnr(frames[-1], np.asarray(fitted_b)) >= MIN_PSNR_DB
    assert info["mode"] == "first_last" and info["camera_not_applied"], info


def test_moves_that_need_content_outside_the_frame_are_reported_not_played(
        tmp_path: Path) -> None:
    _, info = render("pull back, then push in", 1, [("first_frame", photo("coffee"))], tmp_path)
    assert info["camera"] == ["push_in"]
    assert info["camera_not_applied"] == ["pull_back"]
    assert "outside" in info["camera_not_applied_reason"]
    for seed in range(200):           # no seed picks such a move by itself
        moves, _ = plan_camera_moves("a lake", camera_fixed=False, seed=seed)
        assert moves[0].name not in ("pull_back", "zoom_out", "dolly_out")
