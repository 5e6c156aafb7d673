"""The ``wan_i2v`` engine on tiny random Wan pipelines (``support/tiny_wan.py``), on the CPU: in
process (exact size, frames and fps, retiming, progress, seeds, what reaches the pipeline, options,
variants, cancel, refusals, missing weights) and end to end through a live server's Ark API
(an exact 480p video and last frame, a TI2V-5B last frame refused at create time, a cancel
in the middle of denoising)."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from framecast.core.errors import ConfigError, InvalidInput
from framecast.core.spec import ImageInput, ImageSpec, VideoSpec
from framecast.engines._diffusers import CAMERA_FIXED_INSTRUCTION, WeightsMissing
from framecast.engines.base import Cancelled, EngineInputs, InputImage, engine_class
from framecast.engines.wan_i2v import WanI2VEngine
from framecast.media.images import fit_last_frame
from framecast.media.video import probe
from tests.acceptance.support.server import (
    API_KEY,
    Server,
    assert_clean_log,
    make_image,
    png_size,
    probe_mp4,
    start_server,
    stop_server,
)
from tests.engines.support.tiny_wan import save_tiny_wan

SEED = 7
FIRST_PARAM = "content[1].image_url.url"
LAST_PARAM = "content[2].image_url.url"
HUB_ID = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
THREADS = 1   # OpenMP threads of the served engine child, as in-process (conftest)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny layouts saved as diffusers folders (``wan21-i2v``: Wan2.1 without FLF)."""
    root = tmp_path_factory.mktemp("tiny-wan")
    out = {layout: save_tiny_wan(root / layout, layout) for layout in ("a14b", "wan21",
                                                                         "ti2v-5b")}
    out["wan21-i2v"] = save_tiny_wan(root / "wan21-i2v", "wan21", flf=False)
    return out


def loaded(folder: Path, **options: Any) -> WanI2VEngine:
    """A loaded engine on ``folder`` with 2 steps (unless ``options`` say otherwise)."""
    engine = WanI2VEngine({"weights": str(folder), "model": "wan-test", "steps": 2,
                           "distilled": True, **options})
    engine.load()
    return engine


@pytest.fixture(scope="module")
def a14b(folders: dict[str, Path]) -> WanI2VEngine:
    """The default variant (two experts), loaded once for the module."""
    return loaded(folders["a14b"])


def picture(width: int, height: int, seed: int) -> Image.Image:
    """A textured RGB test picture."""
    return Image.open(io.BytesIO(make_image(width, height, seed))).convert("RGB")


FIRST = picture(640, 480, 1)     # 4:3
LAST = picture(480, 640, 2)      # 3:4: cropped to the first frame's aspect before fitting


def video_spec(width: int, height: int, fps: int, frames_total: int, *, last: bool = False,
               seed: int = SEED, **extra: Any) -> VideoSpec:
    """A resolved video spec with a first frame (and a last frame)."""
    images = [ImageInput(role="first_frame", url="data:", param=FIRST_PARAM)]
    if last:
        images.append(ImageInput(role="last_frame", url="data:", param=LAST_PARAM))
    return VideoSpec(model="wan-test", prompt="a red robot and a cat dance", width=width,
                     height=height, fps=fps, frames_total=frames_total, seed=seed,
                     images=images, **extra)


def engine_inputs(work_dir: Path, *, last: bool = False) -> EngineInputs:
    """The decoded images matching :func:`video_spec`, and a fresh work directory."""
    work_dir.mkdir(parents=True, exist_ok=True)
    images = [InputImage("first_frame", FIRST)]
    if last:
        images.append(InputImage("last_frame", LAST))
    return EngineInputs(images=images, work_dir=work_dir)


def generate(engine: WanI2VEngine, spec: VideoSpec, work_dir: Path, *,
             cancel_after: int | None = None) -> tuple[Any, list[tuple[int, int]]]:
    """Run ``engine``; returns its outputs and the progress reports."""
    steps: list[tuple[int, int]] = []
    outputs = engine.run(spec, engine_inputs(work_dir, last=spec.last_frame is not None),
                         lambda step, total: steps.append((step, total)),
                         lambda: cancel_after is not None and len(steps) >= cancel_after)
    return outputs, steps


def decoded(path: Path) -> np.ndarray:
    """Every frame of an MP4 as one RGB array."""
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


class Captured(Exception):
    """Raised by a non-forwarding :class:`Spy` once it has the pipeline's arguments."""


class Spy:
    """Stands in for the pipeline: records each call's keyword arguments, then forwards the
    call or raises :class:`Captured` (nothing is generated)."""

    def __init__(self, pipe: Any, *, forward: bool) -> None:
        self.pipe, self.forward, self.calls = pipe, forward, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if not self.forward:
            raise Captured()
        return self.pipe(**kwargs)


def captured(engine: WanI2VEngine, spec: VideoSpec, work_dir: Path,
             monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The keyword arguments ``engine`` calls its pipeline with for ``spec``."""
    spy = Spy(engine.pipe, forward=False)
    monkeypatch.setattr(engine, "pipe", spy)
    with pytest.raises(Captured):
        generate(engine, spec, work_dir)
    (kwargs,) = spy.calls
    return kwargs


# -- in process ----------------------------------------------------------------------------


def test_a_24fps_request_is_generated_at_16fps_and_retimed_to_the_exact_video(
        a14b: WanI2VEngine, tmp_path: Path) -> None:
    # 2 s at 24 fps: 49 frames; A14B makes 33 at its native 16 fps. 104×56 is no multiple
    # of 16, so it is generated at 96×64 and cover-fitted.
    outputs, steps = generate(a14b, video_spec(104, 56, 24, 49, return_last_frame=True),
                              tmp_path)
    info = probe(tmp_path / "video.mp4")
    assert (info.width, info.height, info.frames, info.fps) == (104, 56, 49, 24)
    assert not info.has_audio
    assert [f.name for f in outputs.files] == ["video.mp4", "last_frame.png"]
    with Image.open(tmp_path / "last_frame.png") as last:
        assert last.size == (104, 56)
    assert outputs.seed == SEED
    assert steps == [(1, 2), (2, 2)]
    assert outputs.info["engine"] == "wan_i2v" and outputs.info["variant"] == "a14b"
    assert outputs.info["steps"] == 2 and outputs.info["native_fps"] == 16
    assert outputs.info["generated_frames"] == 33
    assert outputs.info["generated_size"] == "96x64"
    assert "retimed" in outputs.info and "fitted" in outputs.info


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(
        a14b: WanI2VEngine, tmp_path: Path) -> None:
    # 1 s at 16 fps, the native rate and a legal size: nothing is retimed or fitted
    runs = {}
    for name, seed in (("a", SEED), ("b", SEED), ("c", SEED + 1)):
        outputs, _ = generate(a14b, video_spec(96, 64, 16, 17, seed=seed), tmp_path / name)
        assert "retimed" not in outputs.info and "fitted" not in outputs.info
        runs[name] = tmp_path / name / "video.mp4"
    digest = {n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in runs.items()}
    assert digest["a"] == digest["b"]
    assert np.array_equal(decoded(runs["a"]), decoded(runs["b"]))
    assert not np.array_equal(decoded(runs["a"]), decoded(runs["c"]))


def test_a_deferred_tail_writes_the_same_video_later_and_can_be_cancelled(
        a14b: WanI2VEngine, tmp_path: Path) -> None:
    # what the worker's child asks of a GPU engine: the frames now, the encode later
    assert WanI2VEngine.tail_overlaps({}) and not WanI2VEngine.tail_overlaps({"device": "cpu"})
    spec = video_spec(104, 56, 24, 49, return_last_frame=True)
    now, _ = generate(a14b, spec, tmp_path / "now")
    inputs = engine_inputs(tmp_path / "later")
    inputs.defer_tail = True
    later = a14b.run(spec, inputs, lambda step, total: None, lambda: False)
    assert later.files == [] and later.finish is not None
    assert not (tmp_path / "later" / "video.mp4").exists()    # nothing written yet
    assert later.info == now.info and later.seed == now.seed
    assert [f.name for f in later.complete().files] == ["video.mp4", "last_frame.png"]
    assert (tmp_path / "later" / "video.mp4").read_bytes() == \
        (tmp_path / "now" / "video.mp4").read_bytes()

    inputs = engine_inputs(tmp_path / "cancelled")
    inputs.defer_tail = True
    stopped = a14b.run(spec, inputs, lambda step, total: None, lambda: False)
    with pytest.raises(Cancelled):
        stopped.complete(lambda: True)


def test_the_pipeline_gets_the_exact_size_fitted_keyframes_and_the_prompt(
        a14b: WanI2VEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 480p 16:9 for 5 s at 24 fps: 864×480 is legal as it is; 81 frames at 16 fps
    spec = video_spec(864, 480, 24, 121, last=True, camera_fixed=True)
    kwargs = captured(a14b, spec, tmp_path, monkeypatch)
    assert (kwargs["width"], kwargs["height"], kwargs["num_frames"]) == (864, 480, 81)
    assert kwargs["image"].size == (864, 480)
    assert kwargs["last_image"] is not None and kwargs["last_image"].size == (864, 480)
    expected_last = fit_last_frame(LAST, FIRST.size, 864, 480)
    assert np.array_equal(np.asarray(kwargs["last_image"]), np.asarray(expected_last))
    assert kwargs["prompt"].startswith("a red robot and a cat dance")
    assert kwargs["prompt"].endswith(CAMERA_FIXED_INSTRUCTION)
    assert kwargs["num_inference_steps"] == 2 and kwargs["guidance_scale"] == 3.5
    assert "guidance_scale_2" not in kwargs and kwargs["negative_prompt"] is None
    assert kwargs["output_type"] == "pt"     # made uint8 on the device (to_uint8_frames)
    assert kwargs["generator"].initial_seed() == SEED
    assert kwargs["callback_on_step_end_tensor_inputs"] == ["latents"]

    # without camera_fixed the prompt goes in as it was written, and no last frame as None
    kwargs = captured(a14b, video_spec(864, 480, 24, 121), tmp_path, monkeypatch)
    assert kwargs["prompt"] == "a red robot and a cat dance"
    assert kwargs["last_image"] is None


def test_a_draft_runs_half_a_full_schedule_and_a_distilled_one_whole(
        folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = loaded(folders["a14b"], steps=20, distilled=False)
    spec = video_spec(864, 480, 24, 121)
    assert captured(full, spec, tmp_path, monkeypatch)["num_inference_steps"] == 20
    draft = spec.model_copy(update={"draft": True})
    assert captured(full, draft, tmp_path, monkeypatch)["num_inference_steps"] == 10
    distilled = loaded(folders["a14b"], steps=4)
    assert captured(distilled, draft, tmp_path, monkeypatch)["num_inference_steps"] == 4


def test_options_reach_the_pipeline(folders: dict[str, Path], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    engine = loaded(folders["a14b"], steps=3, guidance_scale=4.0, guidance_scale_2=2.0,
                    boundary_ratio=0.9, flow_shift=5.0, native_fps=8, negative_prompt="blur")
    assert engine.pipe.config.boundary_ratio == 0.9
    assert engine.pipe.scheduler.config.flow_shift == 5.0
    kwargs = captured(engine, video_spec(864, 480, 24, 121), tmp_path, monkeypatch)
    assert kwargs["num_frames"] == 41           # 5 s at 8 fps
    assert kwargs["num_inference_steps"] == 3
    assert (kwargs["guidance_scale"], kwargs["guidance_scale_2"]) == (4.0, 2.0)
    assert kwargs["negative_prompt"] == "blur"

    defaults = WanI2VEngine({"weights": "x/y", "variant": "ti2v-5b"})
    assert (defaults.steps, defaults.guidance, defaults.native_fps) == (50, 5.0, 24)
    defaults = WanI2VEngine({"weights": "x/y"})
    assert (defaults.variant, defaults.steps, defaults.guidance, defaults.native_fps) == \
        ("a14b", 40, 3.5, 16)


def test_cancel_stops_at_the_next_step_without_decoding(
        a14b: WanI2VEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decodes: list[int] = []
    vae_decode = a14b.pipe.vae.decode
    monkeypatch.setattr(a14b.pipe.vae, "decode",
                        lambda *a, **k: decodes.append(1) or vae_decode(*a, **k))
    steps: list[tuple[int, int]] = []
    with pytest.raises(Cancelled):
        a14b.run(video_spec(96, 64, 16, 17), engine_inputs(tmp_path / "mid"),
                 lambda step, total: steps.append((step, total)), lambda: bool(steps))
    assert steps == [(1, 2)]      # of 2: it stopped at the first step after the cancel
    assert decodes == [] and not (tmp_path / "mid" / "video.mp4").exists()

    # cancelled before it starts: the pipeline is never called
    spy = Spy(a14b.pipe, forward=False)
    monkeypatch.setattr(a14b, "pipe", spy)
    with pytest.raises(Cancelled):
        generate(a14b, video_spec(96, 64, 16, 17), tmp_path / "early", cancel_after=0)
    assert spy.calls == []


def test_wan21_takes_first_and_last_frame_and_ti2v_generates_at_multiples_of_32(
        folders: dict[str, Path], tmp_path: Path) -> None:
    wan21 = loaded(folders["wan21"], variant="wan21")
    outputs, steps = generate(wan21, video_spec(96, 64, 16, 9, last=True), tmp_path / "flf")
    info = probe(tmp_path / "flf" / "video.mp4")
    assert (info.width, info.height, info.frames, info.fps) == (96, 64, 9, 16)
    assert steps == [(1, 2), (2, 2)] and outputs.info["variant"] == "wan21"

    ti2v = loaded(folders["ti2v-5b"], variant="ti2v-5b")
    outputs, _ = generate(ti2v, video_spec(104, 56, 24, 13), tmp_path / "5b")
    info = probe(tmp_path / "5b" / "video.mp4")
    assert (info.width, info.height, info.frames, info.fps) == (104, 56, 13, 24)
    # 104×56 at multiples of 32 is 96×64; 0.5 s at its native 24 fps is 13 frames
    assert outputs.info["generated_size"] == "96x64"
    assert outputs.info["generated_frames"] == 13 and "retimed" not in outputs.info


def test_capabilities_follow_the_variant() -> None:
    default = WanI2VEngine.capabilities_for({})
    assert default == WanI2VEngine.capabilities
    for variant in ("a14b", "wan21"):
        caps = WanI2VEngine.capabilities_for({"variant": variant})
        assert caps.roles == {"first_frame", "last_frame"}
    # plain Wan2.1-I2V weights: the entry refuses a last frame at create time
    assert WanI2VEngine.capabilities_for({"variant": "wan21", "last_frame": False}).roles == \
        {"first_frame"}
    caps = WanI2VEngine.capabilities_for({"variant": "ti2v-5b"})
    assert caps.roles == {"first_frame"}
    assert caps.kinds == {"video"} and caps.requires_image and caps.needs_weights
    assert caps.fps == {24, 16} and caps.resolutions == {"480p", "720p"}    # as trained
    assert caps.max_reference_images == 0 and not caps.audio and caps.max_seconds == 5.0
    # A14B in bf16 leaves no room for 720p on 80 GB: fp8 weights (or offload) unlock it
    assert default.resolutions == {"480p"}
    for room in ({"quantize": "fp8"}, {"offload": "model"}):
        assert WanI2VEngine.capabilities_for(room).resolutions == {"480p", "720p"}
    with pytest.raises(ConfigError, match="variant must be one of"):
        WanI2VEngine.capabilities_for({"variant": "wan3"})


def test_requests_it_cannot_serve_are_refused_naming_the_parameter(
        folders: dict[str, Path]) -> None:
    engine = WanI2VEngine({"weights": "x/y", "model": "wan-test"})
    full = video_spec(864, 480, 24, 121, last=True)

    only_last = VideoSpec.model_construct(**{**dict(full), "images": [full.images[1]]})
    with pytest.raises(InvalidInput) as caught:
        engine.check_inputs(only_last)
    assert caught.value.param == LAST_PARAM and "first_frame" in caught.value.message
    with pytest.raises(InvalidInput):      # the spec itself refuses it too
        VideoSpec(model="m", images=[full.images[1]])

    with pytest.raises(InvalidInput) as caught:
        engine.check_inputs(video_spec(864, 480, 24, 121).model_copy(update={"images": []}))
    assert caught.value.param == "images"       # the core's name; each dialect renames it

    with pytest.raises(InvalidInput) as caught:
        engine.check_inputs(ImageSpec(model="wan-test", prompt="x"))
    assert caught.value.param == "model"

    ti2v = WanI2VEngine({"weights": "x/y", "model": "wan-test", "variant": "ti2v-5b"})
    with pytest.raises(InvalidInput) as caught:
        ti2v.check_inputs(full)
    assert caught.value.param == LAST_PARAM and "last_frame" in caught.value.message

    # Wan2.1 I2V weights (not FLF2V) cannot take a second image: refused once loaded
    i2v = loaded(folders["wan21-i2v"], variant="wan21")
    with pytest.raises(InvalidInput) as caught:
        i2v.check_inputs(full)
    assert caught.value.param == LAST_PARAM and "FLF2V" in caught.value.message
    i2v.check_inputs(video_spec(864, 480, 24, 121))


def test_bad_options_and_mismatched_weights_are_config_errors(
        folders: dict[str, Path]) -> None:
    for options, words in (
            ({"variant": "wan21", "guidance_scale_2": 2.0}, "guidance_scale_2"),
            ({"variant": "ti2v-5b", "boundary_ratio": 0.9}, "boundary_ratio"),
            ({"native_fps": 0}, "native_fps"), ({"native_fps": 12.5}, "native_fps"),
            ({"boundary_ratio": 1.5}, "boundary_ratio"), ({"flow_shift": "x"}, "flow_shift"),
            ({"frame_rate": 16}, "unknown keys frame_rate")):
        with pytest.raises(ConfigError, match=words):
            WanI2VEngine({"weights": "x/y", **options})
    engine = WanI2VEngine({"weights": str(folders["a14b"]), "model": "wan-test",
                           "variant": "ti2v-5b"})
    with pytest.raises(ConfigError, match='set variant = "a14b"'):
        engine.load()


def test_missing_weights_name_the_model_and_the_fetch_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    missing = tmp_path / "no-such-folder"
    with pytest.raises(WeightsMissing) as caught:
        WanI2VEngine({"weights": str(missing), "model": "wan-test"}).load()
    assert "wan-test" in str(caught.value) and str(missing) in str(caught.value)

    cache = tmp_path / "empty-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    with pytest.raises(WeightsMissing) as caught:
        WanI2VEngine({"weights": HUB_ID, "model": "wan-test"}).load()
    assert "wan-test" in str(caught.value) and f"hf download {HUB_ID}" in str(caught.value)


def test_the_module_imports_without_torch() -> None:
    """The API process imports the engine class for its capabilities; torch must not come
    along."""
    code = ("import sys\n"
            "from framecast.engines.base import engine_class\n"
            "caps = engine_class('wan_i2v').capabilities_for({'variant': 'ti2v-5b'})\n"
            "assert caps.roles == {'first_frame'}\n"
            "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert engine_class("wan_i2v") is WanI2VEngine


# -- end to end through the live server ----------------------------------------------------

TASKS = "/api/v3/contents/generations/tasks"
TASK_TIMEOUT_S = 240.0
CANCEL_WITHIN_S = 5.0


def models_toml(folders: dict[str, Path]) -> str:
    """Three models on the tiny weights. The tiny VAE spends about a second per 864×480
    frame on a shared CPU, so the served A14B generates natively at 2 fps (5 frames for
    2 s) and the flow retimer makes the 49 frames of 24 fps; CFG is off (guidance 1)."""
    return f"""
[[models]]
id = "wan-tiny"
kind = "video"
engine = "wan_i2v"
weights = "{folders['a14b']}"
default_resolution = "480p"
[models.options]
steps = 2
distilled = true
guidance_scale = 1.0
native_fps = 2

[[models]]
id = "wan-tiny-5b"
kind = "video"
engine = "wan_i2v"
weights = "{folders['ti2v-5b']}"
default_resolution = "480p"
[models.options]
variant = "ti2v-5b"
steps = 2

[[models]]
id = "wan-tiny-slow"
kind = "video"
engine = "wan_i2v"
weights = "{folders['a14b']}"
default_resolution = "480p"
[models.options]
steps = 200
guidance_scale = 1.0
native_fps = 2
"""


@pytest.fixture(scope="module")
def wan_server(folders: dict[str, Path],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``framecast serve`` (one slot) serving the tiny Wan models."""
    server = start_server(tmp_path_factory.mktemp("wan-server"), slots=1,
                          models_toml=models_toml(folders),
                          extra_env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(THREADS)})
    yield server
    try:
        assert_clean_log(server)
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def http(wan_server: Server) -> Iterator[httpx.Client]:
    """A plain client of the server (Ark under /api/v3, the native API under /framecast)."""
    with httpx.Client(base_url=wan_server.root, timeout=60.0,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


def data_uri(width: int, height: int, seed: int) -> str:
    """A PNG test picture as a data URI."""
    return f"data:image/png;base64,{base64.b64encode(make_image(width, height, seed)).decode()}"


def task_body(model: str, *, last: bool = False, **extra: Any) -> dict[str, Any]:
    """An Ark create-task body: a prompt, a 4:3 first frame (and a last frame)."""
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "a cat on a red wall"},
        {"type": "image_url", "image_url": {"url": data_uri(640, 480, 1)}, "role": "first_frame"}]
    if last:
        content.append({"type": "image_url", "image_url": {"url": data_uri(640, 480, 2)},
                        "role": "last_frame"})
    return {"model": model, "content": content, **extra}


def wait_for(http: httpx.Client, task_id: str, server: Server, *,
             until: tuple[str, ...] = ("succeeded", "failed", "cancelled", "expired"),
             timeout_s: float = TASK_TIMEOUT_S) -> httpx.Response:
    """Poll the Ark task until its status is one of ``until``."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = http.get(f"{TASKS}/{task_id}")
        assert response.status_code == 200, response.text
        if response.json()["status"] in until:
            return response
        assert time.monotonic() < deadline, f"{response.text}\n{server.log_tail()}"
        time.sleep(0.2)


@pytest.mark.slow
def test_ark_task_gives_the_exact_video_and_last_frame(http: httpx.Client,
                                                       wan_server: Server) -> None:
    created = http.post(TASKS, json=task_body("wan-tiny", last=True, resolution="480p",
                                              ratio="16:9", duration=2, seed=11,
                                              return_last_frame=True))
    assert created.status_code == 200, created.text
    assert created.headers["X-Framecast-Engine"] == "wan_i2v"
    response = wait_for(http, created.json()["id"], wan_server)
    task = response.json()
    assert task["status"] == "succeeded", f"{task}\n{wan_server.log_tail()}"
    assert response.headers["X-Framecast-Engine"] == "wan_i2v" and task["engine"] == "wan_i2v"
    assert task["seed"] == 11 and task["resolution"] == "480p" and task["ratio"] == "16:9"
    video = httpx.get(task["content"]["video_url"], timeout=60.0)
    assert video.status_code == 200
    info = probe_mp4(video.content)
    assert (info.width, info.height, info.frames, round(info.fps)) == (864, 480, 49, 24)
    last = httpx.get(task["content"]["last_frame_url"], timeout=60.0)
    assert last.status_code == 200 and png_size(last.content) == (864, 480)


@pytest.mark.slow
def test_ti2v_5b_refuses_a_last_frame_when_the_task_is_created(http: httpx.Client) -> None:
    response = http.post(TASKS, json=task_body("wan-tiny-5b", last=True, duration=2))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "InvalidParameter" and error["param"] == LAST_PARAM
    assert "last_frame" in error["message"] and "wan_i2v" in error["message"]


@pytest.mark.slow
def test_a_running_task_cancelled_mid_denoise_stops_within_seconds(
        http: httpx.Client, wan_server: Server) -> None:
    created = http.post(TASKS, json=task_body("wan-tiny-slow", duration=2))
    assert created.status_code == 200, created.text
    task_id = created.json()["id"]
    deadline = time.monotonic() + TASK_TIMEOUT_S
    while True:     # wait until denoising has begun (the native task shows the step)
        native = http.get(f"/framecast/v1/tasks/{task_id}").json()
        if native["status"] == "running" and (native["step"] or 0) >= 1:
            break
        assert native["status"] in ("queued", "running"), native
        assert time.monotonic() < deadline, wan_server.log_tail()
        time.sleep(0.1)
    # Ark's DELETE refuses a running task (the vendor's rule); the native API cancels it
    asked = time.monotonic()
    response = http.post(f"/framecast/v1/tasks/{task_id}/cancel")
    assert response.status_code == 200, response.text
    task = wait_for(http, task_id, wan_server, timeout_s=30.0).json()
    assert task["status"] == "cancelled", task
    assert time.monotonic() - asked < CANCEL_WITHIN_S
    native = http.get(f"/framecast/v1/tasks/{task_id}").json()
    assert native["step"] < 200 and not native["outputs"]
    # the engine stopped at its next step: the worker never had to kill it
    assert "did not stop" not in wan_server.log_tail(400)
