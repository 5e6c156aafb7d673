"""``wan_vace`` on a tiny random Wan2.1-VACE pipeline: in process (exact output, progress,
seeds, references and keyframes reaching the pipeline, cancel, missing weights), then end to
end through a live server over the Ark API."""

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
from framecast.engines.wan_vace import GRAY, WanVaceEngine
from framecast.media.video import probe
from tests.acceptance.support.server import (
    Server,
    assert_clean_log,
    make_image,
    start_server,
    stop_server,
)
from tests.engines.support.tiny_vace_ltx2 import (
    PipeSpy,
    build_wan_vace,
    decoded_inputs,
    run_ark_task,
    small_spec,
)

MODEL = "fc-test-wan-vace"
STEPS = 2


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline as a diffusers folder."""
    return build_wan_vace(tmp_path_factory.mktemp("wan-vace") / "tiny")


@pytest.fixture(scope="module")
def engine(weights: Path) -> WanVaceEngine:
    """The engine, loaded once, as the worker's child loads it."""
    loaded = WanVaceEngine({"weights": str(weights), "model": MODEL, "steps": STEPS,
                            "distilled": True})
    loaded.load()
    return loaded


@pytest.fixture
def spy(engine: WanVaceEngine, monkeypatch: pytest.MonkeyPatch) -> PipeSpy:
    """The engine's pipeline, recording what it is called with."""
    wrapped = PipeSpy(engine.pipe)
    monkeypatch.setattr(engine, "pipe", wrapped)
    return wrapped


def spec_of(images: Sequence[tuple[str, int, int]] = (), **fields: object) -> VideoSpec:
    """A resolved spec small enough for the CPU: 64×48, 13 frames at 24 fps, seed 7."""
    spec: VideoSpec = small_spec(MODEL, (64, 48), 13, images, **fields)
    return spec


inputs_of = decoded_inputs


def run(engine: WanVaceEngine, spec: VideoSpec, work_dir: Path,
        steps: list[tuple[int, int]] | None = None) -> Path:
    """Run the engine; return the video's path."""
    work_dir.mkdir(parents=True, exist_ok=True)
    progress = steps if steps is not None else []
    out = engine.run(spec, inputs_of(spec, work_dir), lambda s, t: progress.append((s, t)),
                     lambda: False)
    return out.files[0].path


# -- in process ----------------------------------------------------------------------------


def test_references_reach_the_pipeline_and_the_output_is_exact(
        engine: WanVaceEngine, spy: PipeSpy, tmp_path: Path) -> None:
    spec = spec_of([("reference_image", 400, 300), ("reference_image", 300, 500)],
                   camera_fixed=True)
    steps: list[tuple[int, int]] = []
    out = engine.run(spec, inputs_of(spec, tmp_path), lambda s, t: steps.append((s, t)),
                     lambda: False)

    info = probe(out.files[0].path)
    assert (info.width, info.height, info.frames, info.fps, info.has_audio) == \
        (64, 48, 13, 24, False)
    assert steps == [(1, STEPS), (2, STEPS)]
    (call,) = spy.calls
    assert [r.size for r in call["reference_images"]] == [(64, 48), (64, 48)]
    assert "video" not in call and "mask" not in call
    # 13 frames at 24 fps last 0.5 s: 9 frames (4n+1) at Wan's 16 fps
    assert (call["width"], call["height"], call["num_frames"]) == (64, 48, 9)
    assert call["num_inference_steps"] == STEPS and call["guidance_scale"] == 5.0
    assert call["prompt"].endswith(CAMERA_FIXED_INSTRUCTION)
    assert out.seed == 7 and out.info["mode"] == "references"


def test_a_reference_is_placed_whole_on_white(engine: WanVaceEngine, spy: PipeSpy,
                                              tmp_path: Path) -> None:
    spec = spec_of([("reference_image", 300, 600)])
    run(engine, spec, tmp_path)
    canvas = np.asarray(spy.calls[0]["reference_images"][0])
    assert canvas.shape == (48, 64, 3)
    assert canvas[:, :8].min() == 255 and canvas[:, -8:].min() == 255   # pillarboxed
    assert canvas[:, 28:36].std() > 0                                   # picture inside


def test_first_and_last_frame_go_in_as_video_and_mask(engine: WanVaceEngine, spy: PipeSpy,
                                                      tmp_path: Path) -> None:
    spec = spec_of([("first_frame", 640, 480), ("last_frame", 640, 480)])
    out = engine.run(spec, inputs_of(spec, tmp_path), lambda s, t: None, lambda: False)

    info = probe(out.files[0].path)
    assert (info.width, info.height, info.frames, info.fps) == (64, 48, 13, 24)
    (call,) = spy.calls
    video, mask = call["video"], call["mask"]
    assert len(video) == len(mask) == call["num_frames"] == 9
    first = np.asarray(inputs_of(spec, tmp_path).images[0].image.resize((64, 48)))
    assert np.abs(np.asarray(video[0], np.float32) - first).mean() < 10
    assert np.asarray(video[4]).min() == np.asarray(video[4]).max() == GRAY[0]
    assert np.asarray(video[-1]).std() > 0
    assert [int(np.asarray(m).max()) for m in mask] == [0, *[255] * 7, 0]
    assert "reference_images" not in call and out.info["mode"] == "first_last"


def test_first_frame_only_keeps_just_frame_zero(engine: WanVaceEngine, spy: PipeSpy,
                                                tmp_path: Path) -> None:
    run(engine, spec_of([("first_frame", 640, 480)]), tmp_path)
    mask = spy.calls[0]["mask"]
    assert [int(np.asarray(m).max()) for m in mask] == [0, *[255] * 8]


def test_text_to_video_at_16_fps(engine: WanVaceEngine, spy: PipeSpy, tmp_path: Path) -> None:
    spec = spec_of(fps=16, frames_total=17)
    out = engine.run(spec, inputs_of(spec, tmp_path), lambda s, t: None, lambda: False)
    info = probe(out.files[0].path)
    assert (info.frames, info.fps) == (17, 16)
    assert spy.calls[0]["num_frames"] == 17
    assert out.info["mode"] == "text" and "prompt alone" in out.info["note"]


def test_the_same_seed_generates_the_same_clip(engine: WanVaceEngine, spy: PipeSpy,
                                              tmp_path: Path) -> None:
    # What the model generated is compared, not the MP4 bytes: x264 on a busy CPU now and
    # then encodes the same frames into different bytes (media/video.py, not this engine).
    run(engine, spec_of([("reference_image", 320, 320)]), tmp_path / "a")
    run(engine, spec_of([("reference_image", 320, 320)]), tmp_path / "b")
    run(engine, spec_of([("reference_image", 320, 320)], seed=8), tmp_path / "c")
    assert spy.generated(0) == spy.generated(1) != spy.generated(2)


def test_cancel_after_the_first_step(engine: WanVaceEngine, tmp_path: Path) -> None:
    steps: list[tuple[int, int]] = []
    spec = spec_of([("reference_image", 320, 320)])
    with pytest.raises(Cancelled):
        engine.run(spec, inputs_of(spec, tmp_path), lambda s, t: steps.append((s, t)),
                   lambda: bool(steps))
    assert steps == [(1, STEPS)]
    assert not (tmp_path / "video.mp4").exists()


def test_what_the_engine_refuses(engine: WanVaceEngine) -> None:
    with pytest.raises(InvalidInput, match="resolution 1080p"):
        engine.check_inputs(spec_of(resolution="1080p"))
    assert engine_class("wan_vace") is WanVaceEngine
    caps = WanVaceEngine.capabilities_for({})
    assert caps.max_reference_images == 4 and not caps.requires_image and not caps.audio


def test_flow_shift_and_guidance_2_options(weights: Path) -> None:
    shifted = WanVaceEngine({"weights": str(weights), "model": MODEL, "flow_shift": 3.0})
    shifted.load()
    assert shifted.pipe.scheduler.config.shift == 3.0
    with pytest.raises(ConfigError, match="guidance_scale_2 applies to two-expert weights"):
        WanVaceEngine({"weights": str(weights), "model": MODEL, "guidance_scale_2": 3.0}).load()
    with pytest.raises(ConfigError, match="native_fps"):
        WanVaceEngine({"weights": str(weights), "native_fps": 0})


def test_missing_weights_name_the_model_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "Wan2.1-VACE-1.3B-diffusers"
    with pytest.raises(WeightsMissing, match="my-vace") as caught:
        WanVaceEngine({"weights": str(missing), "model": "my-vace"}).load()
    assert str(missing) in str(caught.value)


# -- end to end ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A live server whose only extra model is the tiny VACE pipeline."""
    # Even the tiny Wan VAE takes seconds per frame at a full Seedance size on a CPU, so the
    # server's entry generates the least it can: 5 native frames (4 fps), one step, no CFG.
    toml = f"""
[[models]]
id = "{MODEL}"
kind = "video"
engine = "wan_vace"
weights = "{weights}"
default_resolution = "480p"
[models.options]
steps = 1
distilled = true
guidance_scale = 1.0
native_fps = 4
"""
    running = start_server(tmp_path_factory.mktemp("wan-vace-server"), slots=1,
                           models_toml=toml, extra_env={"HF_HUB_OFFLINE": "1"})
    yield running
    stop_server(running)
    assert_clean_log(running)


def data_uri(seed: int) -> str:
    """A 512×512 PNG as a data URI."""
    return "data:image/png;base64," + base64.b64encode(make_image(512, 512, seed)).decode()


@pytest.mark.slow
def test_reference_images_through_the_ark_api(server: Server) -> None:
    import httpx

    task = run_ark_task(server, {"model": MODEL, "content": [
        {"type": "text", "text": "a robot dance --rs 480p --rt 16:9 --frames 29 --seed 3"},
        {"type": "image_url", "image_url": {"url": data_uri(1)}, "role": "reference_image"},
        {"type": "image_url", "image_url": {"url": data_uri(2)}, "role": "reference_image"}]})

    assert task["status"] == "succeeded", f"{task['error']}\n{server.log_tail()}"
    assert task["engine"] == "wan_vace" and task["seed"] == 3
    data = httpx.get(task["content"]["video_url"], timeout=60.0).content
    path = Path(server.data_dir) / "downloaded.mp4"
    path.write_bytes(data)
    info = probe(path)
    assert (info.width, info.height, info.frames, info.fps, info.has_audio) == \
        (864, 480, 29, 24, False)
