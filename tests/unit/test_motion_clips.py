"""The motion engine with Seedance 2.x reference clips: a reference video's frames become
keyframes after the reference images (the video shows them), and reference audio becomes the
MP4's soundtrack, cut or padded to the clip; without clips nothing changes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from skimage import data as photos

from framecast.core import sizes
from framecast.core.spec import ImageInput, MediaInput, VideoSpec
from framecast.engines.base import EngineInputs, InputImage, InputMedia
from framecast.engines.motion import MotionEngine
from framecast.media.images import fit_cover
from tests.clips import camera_move, tone

WIDTH, HEIGHT = 864, 496


def run(tmp_path: Path, *, frames: int, images: list[Image.Image],
        clips: list[tuple[str, Path]]) -> tuple[Path, dict]:
    spec = VideoSpec(
        model="m", prompt="the fox from the clip", resolution="480p", ratio="16:9",
        width=WIDTH, height=HEIGHT, frames_total=frames, fps=24, seed=5, frames=frames,
        images=[ImageInput(role="reference_image", url="data:") for _ in images],
        media=[MediaInput(role=role, url="https://x/clip", param=f"content[{n}].url")  # type: ignore[arg-type]
               for n, (role, _) in enumerate(clips)])
    work = tmp_path / "work"
    work.mkdir()
    inputs = EngineInputs(
        images=[InputImage("reference_image", image) for image in images], work_dir=work,
        media=[InputMedia(role, path, f"content[{n}].url") for n, (role, path) in
               enumerate(clips)])
    out = MotionEngine().run(spec, inputs, lambda step, total: None, lambda: False)
    video = next(f for f in out.files if f.name == "video.mp4")
    assert video.has_audio == any(role == "reference_audio" for role, _ in clips)
    return video.path, out.info


def decoded(path: Path) -> tuple[list[np.ndarray], np.ndarray | None, float]:
    """The frames, the audio samples (None without a track), and the audio's length."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return frames, None, 0.0
        chunks = [f.to_ndarray() for f in container.decode(audio=0)]
        rate = container.streams.audio[0].rate
    samples = np.concatenate(chunks, axis=1)
    return frames, samples, samples.shape[1] / rate


def test_a_reference_video_and_audio_shape_the_clip(tmp_path: Path) -> None:
    clip = camera_move(tmp_path / "ref.mp4", 3.0)
    sound = tmp_path / "ref.wav"
    sound.write_bytes(tone(2.0))
    picture = Image.fromarray(np.asarray(photos.astronaut()))
    path, info = run(tmp_path, frames=97, images=[picture],
                     clips=[("reference_video", clip), ("reference_audio", sound)])
    frames, samples, seconds = decoded(path)
    assert len(frames) == 97 and frames[0].shape == (HEIGHT, WIDTH, 3)
    assert info["mode"] == "references"
    assert "4 frames of each as keyframes" in info["reference_video"]
    assert "padded with silence" in info["reference_audio"]
    # the clip opens on the reference image and closes on the video's last keyframe (the
    # end of the pan over coffee), each seen through the engine's own camera move
    with av.open(str(clip)) as container:
        last = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)][-1]

    def distance(frame: np.ndarray, picture: Image.Image) -> float:
        fitted = np.asarray(fit_cover(picture, WIDTH, HEIGHT), dtype=np.float32)
        return float(np.abs(frame.astype(np.float32) - fitted).mean())

    coffee_end = Image.fromarray(last)
    assert distance(frames[0], picture) * 3 < distance(frames[0], coffee_end)
    assert distance(frames[-1], coffee_end) * 3 < distance(frames[-1], picture)
    # the soundtrack: the tone for 2 s, then silence, as long as the video (97 / 24 s)
    assert seconds == pytest.approx(97 / 24, abs=0.05)
    loud = np.abs(samples[0]) > 0.05
    rate = samples.shape[1] / seconds
    assert loud[: int(1.8 * rate)].mean() > 0.9 and not loud[int(2.2 * rate):].any()


def test_a_reference_video_alone_makes_a_references_clip(tmp_path: Path) -> None:
    clip = camera_move(tmp_path / "ref.mp4", 2.5)
    path, info = run(tmp_path, frames=49, images=[], clips=[("reference_video", clip)])
    frames, samples, _ = decoded(path)
    assert len(frames) == 49 and samples is None and info["mode"] == "references"


def test_longer_audio_is_cut_to_the_clip(tmp_path: Path) -> None:
    sound = tmp_path / "long.wav"
    sound.write_bytes(tone(6.0))
    path, info = run(tmp_path, frames=49, images=[], clips=[("reference_audio", sound)])
    _, samples, seconds = decoded(path)
    assert info["mode"] == "text" and "cut" in info["reference_audio"]
    assert seconds == pytest.approx(49 / 24, abs=0.05)
    assert samples is not None


def test_an_extension_is_the_input_video_then_a_continuation_from_its_last_frame(
        tmp_path: Path) -> None:
    clip = camera_move(tmp_path / "ref.mp4", 3.0)
    head, total = sizes.extended_frames(3.0, 49, 24)          # 2 s more: 72 + 48 frames
    assert (head, total) == (72, 120)
    spec = VideoSpec(
        model="m", prompt="keep going", resolution="480p", ratio="4:3", width=752, height=560,
        frames_total=total, fps=24, seed=3, duration=2, task_type="extend",
        media=[MediaInput(role="reference_video", url="https://x/c", param="content[1].url",
                          seconds=3.0)])
    work = tmp_path / "work"
    work.mkdir()
    out = MotionEngine().run(spec, EngineInputs(images=[], work_dir=work, media=[
        InputMedia("reference_video", clip, "content[1].url")]),
        lambda step, total: None, lambda: False)
    frames, samples, _ = decoded(out.files[0].path)
    assert len(frames) == 120 and samples is None
    assert out.info["mode"] == "extend" and "72 frames" in out.info["extended"]
    with av.open(str(clip)) as container:
        source = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

    def fitted(frame: np.ndarray) -> np.ndarray:
        return np.asarray(fit_cover(Image.fromarray(frame), 752, 560), dtype=np.float32)

    for index in (0, 35, 71):          # the input, as it was (through H.264 twice)
        assert np.abs(frames[index].astype(np.float32) - fitted(source[index])).mean() < 6
    # the continuation picks up where the input stopped, and then moves on
    assert np.abs(frames[72].astype(np.float32) - frames[71]).mean() < 6
    assert np.abs(frames[-1].astype(np.float32) - frames[71]).mean() > 6
