"""Unit tests for the motion engine, measured on the decoded MP4 where it matters.

Camera conventions under test ("content" is what the viewer sees move): zoom in grows the
content monotonically, pan left moves it right, tilt up moves it down; camera_fixed and
"static" give no global motion; first+last mode starts and ends on the fitted keyframes.
Geometry is estimated with ORB features + a RANSAC similarity, or phase correlation.
The size sweep renders frames without encoding; only a few tests encode.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from framecast.core import sizes
from framecast.core.errors import InvalidInput
from framecast.core.spec import ImageInput, ImageSpec, VideoSpec
from framecast.engines._camera import (
    CameraMove,
    CameraPath,
    parse_camera_moves,
    plan_camera_moves,
)
from framecast.engines.base import Cancelled, EngineInputs, InputImage
from framecast.engines.motion import T2V_NOTE, MotionEngine, plan_motion, render_frames
from framecast.engines.testcard import render_card
from framecast.media.images import fit_cover, fit_last_frame
from framecast.media.video import probe

W480, H480 = 864, 480


# -- helpers ---------------------------------------------------------------------------------

def textured(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like test image: sharp detail in brightness (shapes, lines, mild noise) under
    a smooth tint, so that, as in photographs, colour varies slowly and 4:2:0 chroma
    subsampling costs little (a roundtrip stays above 40 dB)."""
    rng = np.random.default_rng(seed)
    luma = cv2.resize(rng.uniform(60, 200, size=(5, 7)).astype(np.float32), (width, height),
                      interpolation=cv2.INTER_CUBIC)
    for _ in range(60):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(8, max(9, min(width, height) // 8)))
        value = float(rng.uniform(20, 235))
        if rng.random() < 0.5:
            cv2.circle(luma, (x, y), r, value, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(luma, (x - r, y - r // 2), (x + r, y + r // 2), value, -1)
    for _ in range(25):
        p0 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(luma, p0, p1, 245.0, 2, cv2.LINE_AA)
    luma += rng.normal(0, 3, luma.shape).astype(np.float32)
    tint = cv2.resize(rng.uniform(0.7, 1.3, size=(3, 4, 3)).astype(np.float32),
                      (width, height), interpolation=cv2.INTER_CUBIC)
    return Image.fromarray(np.clip(luma[..., None] * tint, 0, 255).astype(np.uint8))


def make_spec(*roles: str, **fields: Any) -> VideoSpec:
    """A resolved 480p 16:9 spec (override any field)."""
    values: dict[str, Any] = dict(
        model="m", prompt="", images=[ImageInput(role=r, url="data:") for r in roles],
        resolution="480p", ratio="16:9", width=W480, height=H480, frames_total=49, fps=24,
        seed=42, duration=2)
    values.update(fields)
    return VideoSpec(**values)


def run_engine(spec: VideoSpec, images: list[InputImage], work_dir: Path,
               progress: Any = None, cancelled: Any = None) -> Any:
    work_dir.mkdir(parents=True, exist_ok=True)
    return MotionEngine().run(spec, EngineInputs(images=images, work_dir=work_dir),
                              progress or (lambda step, total: None),
                              cancelled or (lambda: False))


def decoded(path: Path) -> list[np.ndarray]:
    """Decode every frame to RGB with the exact inverse of the writer's I420 conversion."""
    with av.open(str(path)) as container:
        return [cv2.cvtColor(f.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
                for f in container.decode(video=0)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """(scale, rotation degrees, centre dx, centre dy) taking frame ``a`` to frame ``b``."""
    orb = cv2.ORB_create(3000)
    ga, gb = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (a, b))
    ka, da = orb.detectAndCompute(ga, None)
    kb, db = orb.detectAndCompute(gb, None)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    src = np.float32([ka[m.queryIdx].pt for m in matches])
    dst = np.float32([kb[m.trainIdx].pt for m in matches])
    m, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                             ransacReprojThreshold=2.0)
    assert m is not None and int(inliers.sum()) >= 30, "too few feature matches"
    h, w = a.shape[:2]
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    moved = m[:, :2] @ centre + m[:, 2]
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    angle = float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
    return scale, angle, float(moved[0] - centre[0]), float(moved[1] - centre[1])


def frames_of(spec: VideoSpec, keyframes: list[np.ndarray], mode: str) -> list[np.ndarray]:
    """Render without encoding (numpy level)."""
    return [f.copy() for f in render_frames(plan_motion(spec, keyframes, mode))]


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return textured(1280, 800, seed=1)


@pytest.fixture(scope="module")
def fitted(photo: Image.Image) -> np.ndarray:
    return np.asarray(fit_cover(photo, W480, H480))


# -- prompt vocabulary -----------------------------------------------------------------------

@pytest.mark.parametrize(("prompt", "expected"), [
    ("Slow push in, then pan left, and finally tilt up",
     [("push_in", 0.55), ("pan_left", 1.0), ("tilt_up", 1.0)]),
    ("the camera zooms out quickly over the city", [("zoom_out", 1.6)]),
    ("orbit around the car", [("orbit_right", 1.0)]),
    ("an arc shot to the left", [("orbit_left", 1.0)]),
    ("dolly in; truck right; crane down; roll left", [
        ("dolly_in", 1.0), ("truck_right", 1.0), ("crane_down", 1.0), ("roll_left", 1.0)]),
    ("Pull back to reveal the valley, then the camera pans to the right",
     [("pull_back", 1.0), ("pan_right", 1.0)]),
    ("the camera is panning left, then dollies in", [("pan_left", 1.0), ("dolly_in", 1.0)]),
    ("an orbiting shot", [("orbit_right", 1.0)]),
    ("a red fox in the snow", []),
    ("kids at the arcade, an orbital station", []),
])
def test_prompt_names_moves_in_order(prompt: str, expected: list[tuple[str, float]]) -> None:
    assert [(m.name, m.strength) for m in parse_camera_moves(prompt)] == expected


@pytest.mark.parametrize("prompt", ["static shot of a lake, zoom in", "Locked-off camera",
                                    "fixed camera, pan left", "still camera on a tripod"])
def test_static_words_mean_no_motion(prompt: str) -> None:
    assert plan_camera_moves(prompt, camera_fixed=False, seed=1) == ([], "fixed")


def test_seed_picks_a_gentle_move_when_none_is_named() -> None:
    moves, source = plan_camera_moves("a quiet lake", camera_fixed=False, seed=7)
    assert source == "seed" and len(moves) == 1 and 0 < moves[0].strength < 1
    assert plan_camera_moves("a quiet lake", camera_fixed=False, seed=7) == (moves, source)
    assert plan_camera_moves("a quiet lake", camera_fixed=True, seed=7) == ([], "fixed")


# -- camera geometry (numpy level) -----------------------------------------------------------

@pytest.mark.parametrize(("move", "check"), [
    ("pan_right", lambda s, a, dx, dy: dx < -20 and abs(dy) < 3),
    ("truck_left", lambda s, a, dx, dy: dx > 20 and abs(dy) < 3),
    ("tilt_up", lambda s, a, dx, dy: dy > 10 and abs(dx) < 3),
    ("tilt_down", lambda s, a, dx, dy: dy < -10 and abs(dx) < 3),
    ("crane_up", lambda s, a, dx, dy: dy > 15 and s > 1.0),
    ("roll_left", lambda s, a, dx, dy: a > 3),  # content turns clockwise on screen
    ("roll_right", lambda s, a, dx, dy: a < -3),
    ("pull_back", lambda s, a, dx, dy: s < 0.85),
    ("orbit_left", lambda s, a, dx, dy: dx > 5),
])
def test_move_directions(fitted: np.ndarray, move: str, check: Any) -> None:
    camera = CameraPath([CameraMove(move)], W480, H480, 9)
    first, last = camera.apply(rgba(fitted), 0), camera.apply(rgba(fitted), 8)
    measured = similarity(first[..., :3].copy(), last[..., :3].copy())
    assert check(*measured), (move, measured)


def rgba(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)


def test_no_frame_shows_a_border() -> None:
    bright = np.full((H480, W480, 3), 200, np.uint8)
    moves = [CameraMove(n, 1.6) for n in ("pan_left", "tilt_down", "roll_right", "orbit_left",
                                          "pull_back", "truck_right")]
    camera = CameraPath(moves, W480, H480, 61)
    for i in range(61):
        frame = camera.apply(rgba(bright), i)
        edges = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
        assert edges[:, :3].min() >= 190, f"frame {i} shows a border"


def test_first_frame_is_the_image_and_a_pull_back_is_not_played_from_it(
        fitted: np.ndarray) -> None:
    push = frames_of(make_spec("first_frame", prompt="push in", frames_total=9),
                     [fitted], "first_frame")
    assert np.array_equal(push[0], fitted)
    pull = frames_of(make_spec("first_frame", prompt="pull back", frames_total=9),
                     [fitted], "first_frame")
    assert all(np.array_equal(frame, fitted) for frame in pull)   # still: see camera_not_applied
    # without a first frame to start on (text-to-video), a pull back ends on the canvas
    camera = CameraPath([CameraMove("pull_back")], W480, H480, 9)
    assert camera.is_identity(8) and not camera.is_identity(0)


def test_different_seed_gives_different_motion(fitted: np.ndarray) -> None:
    def last_frame(seed: int) -> np.ndarray:
        return frames_of(make_spec("first_frame", seed=seed, frames_total=9),
                         [fitted], "first_frame")[-1]

    a, b = last_frame(1), last_frame(2)
    assert np.abs(a.astype(int) - fitted).mean() > 1  # each seed moves the camera
    assert np.abs(b.astype(int) - fitted).mean() > 1
    assert np.abs(a.astype(int) - b).mean() > 1
    assert np.array_equal(a, last_frame(1))


FAMILY_SIZES = sorted({(family, res, ratio, size)
                       for family, table in sizes.SIZE_TABLES.items()
                       for res, ratios in table.items() for ratio, size in ratios.items()})


@pytest.mark.parametrize(("family", "resolution", "ratio", "size"), FAMILY_SIZES)
def test_every_size_renders_exactly(photo: Image.Image, family: str, resolution: str,
                                    ratio: str, size: tuple[int, int]) -> None:
    width, height = size
    spec = make_spec("first_frame", prompt="push in then pan left", resolution=resolution,
                     ratio=ratio, width=width, height=height, frames_total=5)
    first = np.asarray(fit_cover(photo, width, height))
    frames = frames_of(spec, [first], "first_frame")
    assert len(frames) == 5
    assert all(f.shape == (height, width, 3) and f.dtype == np.uint8 for f in frames)


# -- encoded: first + last, camera, determinism ----------------------------------------------

def test_first_and_last_frame_are_hit_after_encoding(photo: Image.Image, tmp_path: Path) -> None:
    # The last frame is the same scene seen 50 px to the right and a little closer.
    last_photo = photo.transform(photo.size, Image.Transform.AFFINE,
                                 (0.95, 0, 50, 0, 0.95, 20), Image.Resampling.BICUBIC)
    spec = make_spec("first_frame", "last_frame", prompt="zoom in", frames_total=49)
    images = [InputImage("first_frame", photo), InputImage("last_frame", last_photo)]
    outputs = run_engine(spec, images, tmp_path)
    frames = decoded(tmp_path / "video.mp4")
    first = np.asarray(fit_cover(photo, W480, H480))
    last = np.asarray(fit_last_frame(last_photo, photo.size, W480, H480))
    assert len(frames) == 49
    assert psnr(frames[0], first) >= 35
    assert psnr(frames[-1], last) >= 35
    # The middle frame is half way along the motion, not a cross-fade of the ends.
    _, _, dx_end, dy_end = similarity(first, last)
    _, _, dx_mid, dy_mid = similarity(first, frames[24])
    assert abs(dx_mid - dx_end / 2) < 0.15 * abs(dx_end)
    assert abs(dy_mid - dy_end / 2) < 0.15 * abs(dy_end) + 1
    assert outputs.info["mode"] == "first_last" and outputs.info["camera"] == []
    assert outputs.info["camera_not_applied"] == ["zoom_in"]


def test_camera_fixed_has_no_global_motion(photo: Image.Image, tmp_path: Path) -> None:
    spec = make_spec("first_frame", prompt="zoom in, pan left", camera_fixed=True,
                     frames_total=29)
    run_engine(spec, [InputImage("first_frame", photo)], tmp_path)
    frames = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32)
              for f in decoded(tmp_path / "video.mp4")]
    for a, b in itertools.pairwise(frames):
        (dx, dy), _ = cv2.phaseCorrelate(a, b)
        assert np.hypot(dx, dy) < 0.5


def test_zoom_in_grows_and_pan_left_moves_content_right(photo: Image.Image,
                                                       tmp_path: Path) -> None:
    spec = make_spec("first_frame", prompt="zoom in, then pan left", frames_total=49)
    outputs = run_engine(spec, [InputImage("first_frame", photo)], tmp_path)
    assert outputs.info["camera"] == ["zoom_in", "pan_left"]
    frames = decoded(tmp_path / "video.mp4")
    # First half: zoom in, scale strictly growing about a fixed centre.
    zoom = [similarity(frames[0], frames[k]) for k in (4, 8, 12, 16, 20, 24)]
    scales = [z[0] for z in zoom]
    assert all(b > a for a, b in itertools.pairwise(scales)), scales
    assert scales[-1] == pytest.approx(1.25, abs=0.03)
    assert all(abs(z[2]) < 3 and abs(z[3]) < 3 for z in zoom)
    # Second half: pan left, content moving right at a constant scale.
    pan = [similarity(frames[24], frames[k]) for k in (30, 36, 42, 48)]
    shifts = [p[2] for p in pan]
    assert all(b > a > 0 for a, b in itertools.pairwise(shifts)), shifts
    assert all(abs(p[3]) < 2 and abs(p[0] - 1) < 0.02 for p in pan)


def test_same_seed_gives_identical_bytes(photo: Image.Image, tmp_path: Path) -> None:
    spec = make_spec("first_frame", prompt="", frames_total=121, duration=5,
                     return_last_frame=True)
    images = [InputImage("first_frame", photo)]
    run_engine(spec, images, tmp_path / "a")
    run_engine(spec, images, tmp_path / "b")
    for name in ("video.mp4", "last_frame.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    info = probe(tmp_path / "a" / "video.mp4")
    assert (info.width, info.height, info.frames, info.fps) == (W480, H480, 121, 24)


@pytest.mark.parametrize(("family", "resolution", "ratio", "fps"), [
    ("seedance-1.5", "720p", "21:9", 24), ("seedance-1.0", "480p", "9:16", 16)])
def test_encoded_size_frames_and_fps(photo: Image.Image, tmp_path: Path, family: str,
                                     resolution: str, ratio: str, fps: int) -> None:
    width, height = sizes.video_size(family, resolution, ratio)
    spec = make_spec("first_frame", prompt="orbit left", resolution=resolution, ratio=ratio,
                     width=width, height=height, frames_total=29, fps=fps)
    outputs = run_engine(spec, [InputImage("first_frame", photo)], tmp_path)
    info = probe(tmp_path / "video.mp4")
    assert (info.width, info.height, info.frames, info.fps) == (width, height, 29, fps)
    video = outputs.files[0]
    assert (video.name, video.width, video.height, video.frames, video.fps) == \
        ("video.mp4", width, height, 29, fps)


# -- references, text-to-video, last frame ---------------------------------------------------

def test_references_play_in_order_joined_by_morphs(tmp_path: Path) -> None:
    refs = [textured(1000, 700, seed=10 + i) for i in range(3)]
    spec = make_spec("reference_image", "reference_image", "reference_image",
                     camera_fixed=True, frames_total=61)
    outputs = run_engine(spec, [InputImage("reference_image", r) for r in refs], tmp_path)
    assert outputs.info["mode"] == "references" and outputs.info["flow_transitions"] == 2
    frames = decoded(tmp_path / "video.mp4")
    fitted_refs = [np.asarray(fit_cover(r, W480, H480)) for r in refs]
    for k, ref in enumerate(fitted_refs):  # the middle of each third holds its reference
        assert psnr(frames[round((k + 0.5) * 61 / 3)], ref) >= 35
    boundary = frames[round(61 / 3)]
    assert max(psnr(boundary, fitted_refs[0]), psnr(boundary, fitted_refs[1])) < 30


def test_text_to_video_animates_a_test_card(tmp_path: Path) -> None:
    spec = make_spec(prompt="a lighthouse at night, push in", frames_total=29)
    outputs = run_engine(spec, [], tmp_path)
    card = render_card(W480, H480, prompt=spec.prompt, model="m", seed=42, note=T2V_NOTE)
    frames = decoded(tmp_path / "video.mp4")
    assert outputs.info["mode"] == "text" and outputs.info["camera"] == ["push_in"]
    # The card's colour bars and coloured text edges lose a little to 4:2:0 chroma, so the
    # reference is the card as the best possible 4:2:0 encode would show it.
    best_420 = cv2.cvtColor(cv2.cvtColor(card, cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420)
    assert psnr(frames[0], best_420) >= 35
    assert np.array_equal(frames_of(spec, [card], "text")[0], card)
    assert similarity(frames[0], frames[-1])[0] > 1.2


def test_last_frame_png_is_the_last_encoded_frame(photo: Image.Image, tmp_path: Path) -> None:
    spec = make_spec("first_frame", prompt="pan right", frames_total=29,
                     return_last_frame=True, watermark=True)
    outputs = run_engine(spec, [InputImage("first_frame", photo)], tmp_path / "marked")
    names = [f.name for f in outputs.files]
    assert names == ["video.mp4", "last_frame.png"]
    png = np.asarray(Image.open(tmp_path / "marked" / "last_frame.png").convert("RGB"))
    assert png.shape == (H480, W480, 3)
    assert psnr(png, decoded(tmp_path / "marked" / "video.mp4")[-1]) >= 35
    plain_spec = spec.model_copy(update={"watermark": False})
    run_engine(plain_spec, [InputImage("first_frame", photo)], tmp_path / "plain")
    plain = np.asarray(Image.open(tmp_path / "plain" / "last_frame.png").convert("RGB"))
    differs = np.any(png != plain, axis=2)
    ys, xs = np.nonzero(differs)
    assert len(ys) > 50 and ys.min() > H480 // 2 and xs.min() > W480 // 2


# -- progress, cancel, checks ----------------------------------------------------------------

def test_progress_is_monotonic_and_reaches_total(photo: Image.Image, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    run_engine(make_spec("first_frame", frames_total=29), [InputImage("first_frame", photo)],
               tmp_path, progress=lambda step, total: seen.append((step, total)))
    assert seen == [(i, 29) for i in range(1, 30)]


def test_cancel_mid_run_raises_quickly(photo: Image.Image, tmp_path: Path) -> None:
    spec = make_spec("first_frame", prompt="orbit right", width=1920, height=1088,
                     resolution="1080p", frames_total=121, duration=5)
    flag = threading.Event()
    cancelled_at: list[float] = []

    def progress(step: int, total: int) -> None:
        if step == 5 and not flag.is_set():
            flag.set()
            cancelled_at.append(time.perf_counter())

    with pytest.raises(Cancelled):
        run_engine(spec, [InputImage("first_frame", photo)], tmp_path, progress=progress,
                   cancelled=flag.is_set)
    assert time.perf_counter() - cancelled_at[0] < 1.0
    assert not (tmp_path / "video.mp4").exists()  # the partial file is thrown away
    assert not any(t.name == "motion-render" for t in threading.enumerate())


def test_check_inputs_speaks_the_users_words(photo: Image.Image, tmp_path: Path) -> None:
    engine = MotionEngine()
    with pytest.raises(InvalidInput) as image_kind:
        engine.check_inputs(ImageSpec(model="m", prompt="x"))
    assert image_kind.value.param == "model"
    with pytest.raises(InvalidInput) as odd:
        engine.check_inputs(make_spec(width=833))
    assert odd.value.param == "resolution" and "833" in str(odd.value)
    with pytest.raises(InvalidInput) as missing:
        engine.check_inputs(make_spec("first_frame"), EngineInputs(images=[], work_dir=tmp_path))
    assert missing.value.param == "images" and "first_frame" in str(missing.value)
