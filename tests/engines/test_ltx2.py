"""``ltx2`` on a tiny random LTX-2 condition pipeline: in process (exact output, progress,
seeds, keyframes reaching the pipeline, the soundtrack, the distilled recipe, cancel, missing
weights), then end to end through a live server over the Ark API."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from framecast.core.errors import ConfigError, InvalidInput
from framecast.core.spec import VideoSpec
from framecast.engines._diffusers import CAMERA_FIXED_INSTRUCTION, WeightsMissing
from framecast.engines.base import Cancelled, engine_class
from framecast.engines.ltx2 import LTX2Engine
from framecast.media.video import probe
from tests.acceptance.support.server import (
    Server,
    assert_clean_log,
    make_image,
    start_server,
    stop_server,
)
from tests.engines.support.tiny_vace_ltx2 import (
    LTX2_AUDIO_SAMPLE_RATE,
    PipeSpy,
    build_ltx2,
    decoded_inputs,
    run_ark_task,
    small_spec,
)

MODEL = "fc-test-ltx2"
STEPS = 2


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline as a diffusers folder."""
    return build_ltx2(tmp_path_factory.mktemp("ltx2") / "tiny")


@pytest.fixture(scope="module")
def engine(weights: Path) -> LTX2Engine:
    """The engine, loaded once, as the worker's child loads it."""
    loaded = LTX2Engine({"weights": str(weights), "model": MODEL, "steps": STEPS})
    loaded.load()
    return loaded


@pytest.fixture
def spy(engine: LTX2Engine, monkeypatch: pytest.MonkeyPatch) -> PipeSpy:
    """The engine's pipeline, recording what it is called with."""
    wrapped = PipeSpy(engine.pipe)
    monkeypatch.setattr(engine, "pipe", wrapped)
    return wrapped


def spec_of(images: Sequence[tuple[str, int, int]] = (), **fields: object) -> VideoSpec:
    """A resolved spec small enough for the CPU: 96×64, 17 frames at 24 fps, seed 7."""
    spec: VideoSpec = small_spec(MODEL, (96, 64), 17, images, **fields)
    return spec


inputs_of = decoded_inputs


def run(engine: LTX2Engine, spec: VideoSpec, work_dir: Path) -> Path:
    """Run the engine; return the video's path."""
    work_dir.mkdir(parents=True, exist_ok=True)
    out = engine.run(spec, inputs_of(spec, work_dir), lambda s, t: None, lambda: False)
    return out.files[0].path


FIRST_LAST = (("first_frame", 640, 480), ("last_frame", 640, 480))


# -- in process ----------------------------------------------------------------------------


def test_first_and_last_frame_reach_the_pipeline_with_sound(
        engine: LTX2Engine, spy: PipeSpy, tmp_path: Path) -> None:
    spec = spec_of(FIRST_LAST, generate_audio=True, camera_fixed=True)
    steps: list[tuple[int, int]] = []
    out = engine.run(spec, inputs_of(spec, tmp_path), lambda s, t: steps.append((s, t)),
                     lambda: False)

    info = probe(out.files[0].path)
    assert (info.width, info.height, info.frames, info.fps, info.has_audio) == \
        (96, 64, 17, 24, True)
    assert out.files[0].has_audio and out.info["audio_sample_rate"] == LTX2_AUDIO_SAMPLE_RATE
    assert steps == [(1, STEPS), (2, STEPS)]
    (call,) = spy.calls
    first, last = call["conditions"]
    assert (first.index, last.index) == (0, -1)
    assert first.frames.size == last.frames.size == (96, 64)
    pictures = inputs_of(spec, tmp_path).images
    for condition, source in zip((first, last), pictures, strict=True):
        expected = np.asarray(source.image.resize((96, 64)), np.float32)
        assert np.abs(np.asarray(condition.frames, np.float32) - expected).mean() < 10
    # 17 frames at 24 fps are 8n+1 already: generated as asked
    assert (call["width"], call["height"], call["num_frames"], call["frame_rate"]) == \
        (96, 64, 17, 24.0)
    assert call["num_inference_steps"] == STEPS and call["guidance_scale"] == 3.0
    assert "sigmas" not in call
    assert call["prompt"].endswith(CAMERA_FIXED_INSTRUCTION)
    assert out.info["mode"] == "first_last"


def test_without_generate_audio_the_video_is_silent(engine: LTX2Engine, spy: PipeSpy,
                                                    tmp_path: Path) -> None:
    spec = spec_of([("first_frame", 640, 480)])
    out = engine.run(spec, inputs_of(spec, tmp_path), lambda s, t: None, lambda: False)
    assert probe(out.files[0].path).has_audio is False and not out.files[0].has_audio
    (condition,) = spy.calls[0]["conditions"]
    assert condition.index == 0 and out.info["mode"] == "first_frame"


def test_text_to_video_at_16_fps_generates_at_24(engine: LTX2Engine, spy: PipeSpy,
                                                 tmp_path: Path) -> None:
    spec = spec_of(fps=16, frames_total=17, width=100, height=72)
    out = engine.run(spec, inputs_of(spec, tmp_path), lambda s, t: None, lambda: False)
    info = probe(out.files[0].path)
    assert (info.width, info.height, info.frames, info.fps) == (100, 72, 17, 16)
    call = spy.calls[0]
    # 1 s at 24 fps is 25 frames (8n+1), generated at the 32-multiples nearest 100×72
    assert (call["num_frames"], call["frame_rate"], call["width"], call["height"]) == \
        (25, 24.0, 96, 64)
    assert call["conditions"] is None and out.info["mode"] == "text"


def test_the_same_seed_generates_the_same_clip(engine: LTX2Engine, spy: PipeSpy,
                                              tmp_path: Path) -> None:
    # What the model generated is compared, not the MP4 bytes: x264 on a busy CPU now and
    # then encodes the same frames into different bytes (media/video.py, not this engine).
    run(engine, spec_of(FIRST_LAST, generate_audio=True), tmp_path / "a")
    run(engine, spec_of(FIRST_LAST, generate_audio=True), tmp_path / "b")
    run(engine, spec_of(FIRST_LAST, generate_audio=True, seed=8), tmp_path / "c")
    assert spy.generated(0) == spy.generated(1) != spy.generated(2)


def test_cancel_after_the_first_step(engine: LTX2Engine, tmp_path: Path) -> None:
    steps: list[tuple[int, int]] = []
    spec = spec_of(FIRST_LAST)
    with pytest.raises(Cancelled):
        engine.run(spec, inputs_of(spec, tmp_path), lambda s, t: steps.append((s, t)),
                   lambda: bool(steps))
    assert steps == [(1, STEPS)]
    assert not (tmp_path / "video.mp4").exists()


def test_the_distilled_recipe(weights: Path, tmp_path: Path) -> None:
    distilled = LTX2Engine({"weights": str(weights), "model": MODEL, "distilled": True,
                            "image_crf": 0})
    assert (distilled.steps, distilled.guidance) == (8, 1.0)
    distilled.load()
    spy = PipeSpy(distilled.pipe)
    distilled.pipe = spy
    spec = spec_of(FIRST_LAST, generate_audio=True)
    steps: list[tuple[int, int]] = []
    out = distilled.run(spec, inputs_of(spec, tmp_path), lambda s, t: steps.append((s, t)),
                        lambda: False)

    assert probe(out.files[0].path).has_audio and out.info["distilled"] is True
    assert len(steps) == 8
    (call,) = spy.calls
    assert call["num_inference_steps"] == 8 and len(call["sigmas"]) == 8
    assert call["sigmas"][0] == 1.0 and call["sigmas"] == sorted(call["sigmas"], reverse=True)
    assert (call["guidance_scale"], call["audio_guidance_scale"], call["stg_scale"],
            call["audio_stg_scale"], call["modality_scale"]) == (1.0, 1.0, 0.0, 0.0, 1.0)
    assert [c.crf for c in call["conditions"]] == [0, 0]
    # other step counts run on the scheduler's own sigmas
    fewer = LTX2Engine({"weights": str(weights), "distilled": True, "steps": 4})
    assert "sigmas" not in fewer.guidance_kwargs()


def test_what_the_engine_refuses(engine: LTX2Engine) -> None:
    with pytest.raises(InvalidInput, match="reference_image"):
        engine.check_inputs(spec_of([("reference_image", 320, 320)]))
    assert engine_class("ltx2") is LTX2Engine
    caps = LTX2Engine.capabilities_for({})
    assert caps.audio and caps.roles == {"first_frame", "last_frame"}
    with pytest.raises(ConfigError, match="distilled must be true or false"):
        LTX2Engine({"distilled": "yes"})
    with pytest.raises(ConfigError, match="image_crf"):
        LTX2Engine({"image_crf": 99})


def test_missing_weights_name_the_model_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "LTX-2.3-Diffusers"
    with pytest.raises(WeightsMissing, match="my-ltx") as caught:
        LTX2Engine({"weights": str(missing), "model": "my-ltx"}).load()
    assert str(missing) in str(caught.value)


# -- end to end ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A live server whose only extra model is the tiny LTX-2 pipeline."""
    toml = f"""
[[models]]
id = "{MODEL}"
kind = "video"
engine = "ltx2"
weights = "{weights}"
default_resolution = "480p"
[models.options]
steps = {STEPS}
"""
    running = start_server(tmp_path_factory.mktemp("ltx2-server"), slots=1, models_toml=toml,
                           extra_env={"HF_HUB_OFFLINE": "1"})
    yield running
    stop_server(running)
    assert_clean_log(running)


def data_uri(seed: int) -> str:
    """A 640×480 PNG as a data URI."""
    return "data:image/png;base64," + base64.b64encode(make_image(640, 480, seed)).decode()


@pytest.mark.slow
def test_first_and_last_frame_with_audio_through_the_ark_api(server: Server) -> None:
    import httpx

    task = run_ark_task(server, {
        "model": MODEL, "generate_audio": True, "resolution": "480p", "ratio": "16:9",
        "duration": 2, "seed": 11, "content": [
            {"type": "text", "text": "a robot dance"},
            {"type": "image_url", "image_url": {"url": data_uri(1)}, "role": "first_frame"},
            {"type": "image_url", "image_url": {"url": data_uri(2)}, "role": "last_frame"}]})

    assert task["status"] == "succeeded", f"{task['error']}\n{server.log_tail()}"
    assert task["engine"] == "ltx2" and task["generate_audio"] is True
    path = Path(server.data_dir) / "downloaded.mp4"
    path.write_bytes(httpx.get(task["content"]["video_url"], timeout=60.0).content)
    info = probe(path)
    assert (info.width, info.height, info.frames, info.fps, info.has_audio) == \
        (864, 480, 49, 24, True)
