"""The text-to-image engines (``zimage``, ``flux``, ``sdxl``) on tiny random pipelines, on the
CPU: in process (sizes, progress, seeds, guidance, variants, cancel, missing weights) and end
to end through a live server's Seedream API."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from PIL import Image

from framecast.core.errors import ConfigError, InvalidInput
from framecast.core.spec import ImageInput, ImageSpec
from framecast.engines._diffusers import DiffusersEngine, WeightsMissing
from framecast.engines.base import Cancelled, EngineInputs, InputImage, engine_class
from tests.acceptance.support.server import (
    API_KEY,
    Server,
    assert_clean_log,
    make_image,
    start_server,
    stop_server,
)
from tests.engines.support.tiny_images import BUILDERS, build_flux_kontext

NAMES = ("zimage", "flux", "sdxl")
HUB_IDS = {"zimage": "Tongyi-MAI/Z-Image-Turbo", "flux": "black-forest-labs/FLUX.1-dev",
           "sdxl": "stabilityai/stable-diffusion-xl-base-1.0"}
# what each engine generates for a 1000×600 request before fitting: multiples of 16 (8× VAE,
# 2×2 patches) for Z-Image and FLUX, where 1000/16 = 62.5 rounds to even; 8 for SDXL
LEGAL_1000x600 = {"zimage": "992x608", "flux": "992x608", "sdxl": "1000x600"}
DEFAULTS = {"zimage": (9, 0.0), "flux": (28, 3.5), "sdxl": (30, 5.0)}
SMALL = 128
THREADS = 1   # OpenMP threads of the served engine child, as in-process (conftest)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three tiny pipelines saved as diffusers folders."""
    root = tmp_path_factory.mktemp("tiny-images")
    return {name: BUILDERS[name](root / name) for name in NAMES}


@pytest.fixture(scope="module")
def engines(folders: dict[str, Path]) -> dict[str, DiffusersEngine]:
    """Each engine, loaded from its tiny folder with 2 steps."""
    loaded: dict[str, DiffusersEngine] = {}
    for name in NAMES:
        engine = engine_class(name)({"weights": str(folders[name]), "model": f"tiny-{name}",
                                     "steps": 2})
        assert isinstance(engine, DiffusersEngine)
        engine.load()
        loaded[name] = engine
    return loaded


def spec(width: int, height: int, seed: int = 7, **extra: Any) -> ImageSpec:
    """A resolved Seedream spec."""
    return ImageSpec(model="tiny", prompt="a red robot with a cat", width=width, height=height,
                     size=f"{width}x{height}", seed=seed, watermark=False, **extra)


def generate(engine: DiffusersEngine, image_spec: ImageSpec, work_dir: Path, *,
             cancel_after: int | None = None) -> tuple[Any, list[tuple[int, int]]]:
    """Run ``engine`` into ``work_dir``; returns its outputs and the progress reports."""
    work_dir.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[int, int]] = []
    outputs = engine.run(image_spec, EngineInputs(images=[], work_dir=work_dir),
                         lambda step, total: steps.append((step, total)),
                         lambda: cancel_after is not None and len(steps) >= cancel_after)
    return outputs, steps


class Spy:
    """Stands in for a pipeline: records each call's keyword arguments and either forwards
    the call or answers with a grey image of the asked size."""

    def __init__(self, pipe: Any, *, forward: bool) -> None:
        self.pipe, self.forward = pipe, forward
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.forward:
            return self.pipe(**kwargs)
        return SimpleNamespace(images=[Image.new("RGB", (kwargs["width"], kwargs["height"]))])


# -- in process --------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_exact_size_and_progress_per_step(name: str, engines: dict[str, DiffusersEngine],
                                          tmp_path: Path) -> None:
    engine = engines[name]
    outputs, steps = generate(engine, spec(512, 512), tmp_path / "square")
    (file,) = outputs.files
    assert file.name == "image.png" and (file.width, file.height) == (512, 512)
    with Image.open(file.path) as img:
        assert img.size == (512, 512) and img.format == "PNG"
        assert len(set(img.convert("L").getdata())) > 1      # not a blank frame
    assert steps == [(1, 2), (2, 2)]
    assert outputs.seed == 7
    assert outputs.info["engine"] == name and outputs.info["steps"] == 2
    assert outputs.info["generated_size"] == "512x512"

    outputs, steps = generate(engine, spec(1000, 600), tmp_path / "odd")
    with Image.open(outputs.files[0].path) as img:
        assert img.size == (1000, 600)
    assert outputs.info["generated_size"] == LEGAL_1000x600[name]
    assert steps == [(1, 2), (2, 2)]


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bytes(name: str, engines: dict[str, DiffusersEngine],
                              tmp_path: Path) -> None:
    def png(seed: int, run: str) -> bytes:
        outputs, _ = generate(engines[name], spec(SMALL, SMALL, seed=seed), tmp_path / run)
        return outputs.files[0].path.read_bytes()

    first = png(11, "a")
    assert png(11, "b") == first
    assert png(12, "c") != first


@pytest.mark.parametrize("name", NAMES)
def test_guidance_from_the_request_reaches_the_pipeline(
        name: str, engines: dict[str, DiffusersEngine], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engines[name]
    spy = Spy(engine.pipe, forward=False)
    monkeypatch.setattr(engine, "pipe", spy)
    outputs, _ = generate(engine, spec(640, 384, guidance_scale=7.5), tmp_path / "asked")
    generate(engine, spec(640, 384), tmp_path / "default")
    asked, default = spy.calls
    # Z-Image-Turbo is distilled: a request's guidance would switch CFG back on, so it is
    # ignored unless the entry says `request_guidance = true`
    honoured = 7.5 if name != "zimage" else DEFAULTS[name][1]
    assert asked["guidance_scale"] == honoured and outputs.info["guidance_scale"] == honoured
    assert default["guidance_scale"] == DEFAULTS[name][1]
    assert (asked["width"], asked["height"], asked["num_inference_steps"]) == (640, 384, 2)
    assert asked["prompt"] == "a red robot with a cat" and asked["output_type"] == "pil"
    assert asked["generator"].initial_seed() == 7
    with Image.open(outputs.files[0].path) as img:
        assert img.size == (640, 384)


def test_request_guidance_option_overrides_the_distilled_rule() -> None:
    turbo = engine_class("sdxl")({"weights": "/nowhere", "variant": "turbo"})
    forced = engine_class("sdxl")({"weights": "/nowhere", "variant": "turbo",
                                   "request_guidance": True})
    base = engine_class("sdxl")({"weights": "/nowhere", "request_guidance": False})
    asked = spec(SMALL, SMALL, guidance_scale=6.0)
    assert isinstance(turbo, DiffusersEngine) and isinstance(forced, DiffusersEngine)
    assert isinstance(base, DiffusersEngine)
    assert turbo.guidance_for(asked) == 0.0
    assert forced.guidance_for(asked) == 6.0
    assert base.guidance_for(asked) == 5.0


@pytest.mark.parametrize("name", NAMES)
def test_defaults_without_options(name: str) -> None:
    engine = engine_class(name)({"weights": "/nowhere", "model": "m"})
    assert isinstance(engine, DiffusersEngine)
    assert (engine.steps, engine.guidance) == DEFAULTS[name]
    configured = engine_class(name)({"weights": "/nowhere", "steps": 3, "guidance_scale": 2.0})
    assert isinstance(configured, DiffusersEngine)
    assert (configured.steps, configured.guidance) == (3, 2.0)


@pytest.mark.parametrize(("name", "variant", "extra"), [
    ("flux", "schnell", {"max_sequence_length": 256}),
    ("sdxl", "turbo", {}),
])
def test_distilled_variant_takes_four_steps_without_guidance(
        name: str, variant: str, extra: dict[str, Any], folders: dict[str, Path],
        tmp_path: Path) -> None:
    engine = engine_class(name)({"weights": str(folders[name]), "model": "m",
                                 "variant": variant})
    assert isinstance(engine, DiffusersEngine)
    engine.load()
    if variant == "turbo":
        assert engine.pipe.scheduler.config.timestep_spacing == "trailing"
    spy = Spy(engine.pipe, forward=True)
    engine.pipe = spy
    outputs, steps = generate(engine, spec(SMALL, SMALL), tmp_path)
    (call,) = spy.calls
    assert (call["num_inference_steps"], call["guidance_scale"]) == (4, 0.0)
    assert all(call[key] == value for key, value in extra.items())
    assert steps == [(n, 4) for n in range(1, 5)]
    assert outputs.info["variant"] == variant and outputs.info["steps"] == 4


@pytest.mark.parametrize(("name", "options", "words"), [
    ("flux", {"variant": "pro"}, "variant must be one of dev, schnell, kontext"),
    ("sdxl", {"variant": "refiner"}, "variant must be one of base, turbo"),
    ("sdxl", {"variant": "turbo", "steps": 8}, "turbo takes 1 to 4 steps, got 8"),
    ("zimage", {"variant": "turbo"}, "unknown keys variant"),
])
def test_bad_options_are_config_errors(name: str, options: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        engine_class(name)({"weights": "/nowhere", **options})


@pytest.mark.parametrize("name", NAMES)
def test_cancel_after_the_first_step(name: str, engines: dict[str, DiffusersEngine],
                                     tmp_path: Path) -> None:
    with pytest.raises(Cancelled):
        generate(engines[name], spec(SMALL, SMALL), tmp_path / "cancelled", cancel_after=1)
    assert not (tmp_path / "cancelled" / "image.png").exists()
    outputs, steps = generate(engines[name], spec(SMALL, SMALL), tmp_path / "next")
    assert steps == [(1, 2), (2, 2)] and outputs.files[0].path.exists()   # still usable


@pytest.mark.parametrize("name", NAMES)
def test_reference_images_are_refused(name: str) -> None:
    engine = engine_class(name)({"weights": "/nowhere", "model": "m"})
    image = ImageInput(role="reference_image", url="https://example.com/a.png", param="image")
    with pytest.raises(InvalidInput) as caught:
        engine.check_inputs(spec(512, 512, images=[image]))
    assert caught.value.param == "image" and "reference_image" in str(caught.value)


def test_flux_kontext_edits_one_reference_image(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_class("flux")({"weights": str(build_flux_kontext(tmp_path / "kontext")),
                                   "model": "tiny-kontext", "variant": "kontext", "steps": 2})
    assert isinstance(engine, DiffusersEngine)
    assert (engine.steps_for(spec(64, 64)), engine.guidance) == (2, 2.5)
    engine.load()
    assert type(engine.pipe).__name__ == "FluxKontextPipeline"
    photo = Image.open(io.BytesIO(make_image(640, 480, 3))).convert("RGB")
    reference = ImageInput(role="reference_image", url="data:", param="image")
    edit = spec(SMALL, SMALL, images=[reference])
    engine.check_inputs(edit)
    spy = Spy(engine.pipe, forward=True)
    monkeypatch.setattr(engine, "pipe", spy)
    work = tmp_path / "edit"
    work.mkdir()
    steps: list[tuple[int, int]] = []
    outputs = engine.run(edit, EngineInputs(images=[InputImage("reference_image", photo)],
                                            work_dir=work),
                         lambda step, total: steps.append((step, total)), lambda: False)
    (call,) = spy.calls
    assert call["image"].size == (SMALL, SMALL) and call["_auto_resize"] is False
    assert call["guidance_scale"] == 2.5 and call["max_sequence_length"] == 512
    assert steps == [(1, 2), (2, 2)]
    with Image.open(outputs.files[0].path) as img:
        assert img.size == (SMALL, SMALL)
    # no reference: Kontext generates from the prompt alone; two: the second is refused
    generate(engine, spec(SMALL, SMALL), tmp_path / "t2i")
    assert "image" not in spy.calls[-1]
    with pytest.raises(InvalidInput) as caught:
        engine.check_inputs(spec(SMALL, SMALL, images=[
            reference, reference.model_copy(update={"param": "image[1]"})]))
    assert caught.value.param == "image[1]"
    assert engine_class("flux").capabilities_for({"variant": "dev"}).max_reference_images == 0


@pytest.mark.parametrize("name", NAMES)
def test_missing_weights_name_the_model_and_the_fetch(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    missing = tmp_path / "no-such-folder"
    engine = engine_class(name)({"weights": str(missing), "model": "my-model"})
    with pytest.raises(WeightsMissing) as caught:
        engine.load()
    assert "my-model" in str(caught.value) and str(missing) in str(caught.value)

    cache = tmp_path / "empty-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    engine = engine_class(name)({"weights": HUB_IDS[name], "model": "my-model"})
    with pytest.raises(WeightsMissing) as caught:
        engine.load()
    assert "my-model" in str(caught.value)
    assert f"hf download {HUB_IDS[name]}" in str(caught.value)


def test_modules_import_without_torch() -> None:
    """The API process imports engine classes for their capabilities; torch must not come
    along."""
    code = ("import sys\n"
            "from framecast.engines.base import engine_class\n"
            "for name in ('zimage', 'flux', 'sdxl'):\n"
            "    caps = engine_class(name).capabilities_for({'variant': 'turbo'})\n"
            "    assert caps.kinds == {'image'} and caps.needs_weights and not caps.roles\n"
            "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- end to end: the Seedream API of a live server ------------------------------------------


@pytest.fixture(scope="module")
def image_server(folders: dict[str, Path],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose three tiny image models (2 steps each) run in one engine slot."""
    toml = "".join(f"""
[[models]]
id = "tiny-{name}"
kind = "image"
engine = "{name}"
weights = "{folders[name]}"
default_size = "512x512"
[models.options]
steps = 2
""" for name in NAMES)
    server = start_server(tmp_path_factory.mktemp("image-server"), slots=1, models_toml=toml,
                          extra_env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(THREADS)})
    yield server
    stop_server(server)
    assert_clean_log(server)


@pytest.fixture(scope="module")
def ark(image_server: Server) -> Iterator[httpx.Client]:
    """A plain client of the server's Ark API."""
    with httpx.Client(base_url=image_server.base_url, timeout=180.0,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_seedream_api_serves_each_engine(name: str, ark: httpx.Client,
                                         image_server: Server) -> None:
    model = f"tiny-{name}"
    response = ark.post("/images/generations", json={
        "model": model, "prompt": "a dog on a wall", "size": "768x512", "seed": 5,
        "response_format": "url"})
    assert response.status_code == 200, f"{response.text}\n{image_server.log_tail()}"
    assert response.headers["X-Framecast-Engine"] == name
    (item,) = response.json()["data"]
    assert item["size"] == "768x512"
    downloaded = httpx.get(item["url"], timeout=60.0)
    assert downloaded.status_code == 200
    with Image.open(io.BytesIO(downloaded.content)) as img:
        assert img.format == "PNG" and img.size == (768, 512)

    response = ark.post("/images/generations", json={
        "model": model, "prompt": "a dog on a wall", "size": "1000x600", "seed": 5,
        "response_format": "b64_json", "guidance_scale": 4.0})
    assert response.status_code == 200, f"{response.text}\n{image_server.log_tail()}"
    assert response.headers["X-Framecast-Engine"] == name
    (item,) = response.json()["data"]
    assert item["size"] == "1000x600" and not item.get("url")
    with Image.open(io.BytesIO(base64.b64decode(item["b64_json"]))) as img:
        assert img.format == "PNG" and img.size == (1000, 600)


@pytest.mark.slow
def test_seedream_api_refuses_a_reference_image(ark: httpx.Client) -> None:
    picture = base64.b64encode(make_image(512, 512, 1)).decode()
    response = ark.post("/images/generations", json={
        "model": "tiny-flux", "prompt": "a dog", "size": "512x512",
        "image": f"data:image/png;base64,{picture}"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "image" and "reference_image" in error["message"]
    assert "flux" in error["message"]


@pytest.mark.slow
def test_other_dialects_reach_the_diffusers_engines(image_server: Server) -> None:
    """The engines sit behind the core, so every dialect gets them: the official OpenAI SDK
    and the native API here (Ark above)."""
    from openai import OpenAI

    client = OpenAI(api_key=API_KEY, base_url=f"{image_server.root}/v1")
    result = client.images.generate(model="tiny-zimage", prompt="a red robot", size="640x384",
                                    response_format="b64_json")
    with Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json or ""))) as img:
        assert (img.format, img.size) == ("PNG", (640, 384))

    with httpx.Client(base_url=image_server.root, timeout=180.0,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        created = http.post("/framecast/v1/images", json={
            "model": "tiny-sdxl", "prompt": "a dog", "size": "512x512", "seed": 3})
        assert created.status_code in (200, 201, 202), created.text
        task_id = created.json()["id"]
        task = created.json()
        while task["status"] not in ("succeeded", "failed", "cancelled", "expired"):
            time.sleep(0.1)
            task = http.get(f"/framecast/v1/tasks/{task_id}").json()
        assert task["status"] == "succeeded", task
        assert task["engine"] == "sdxl" and task["seed"] == 3
        image = httpx.get(task["outputs"][0]["url"], timeout=60.0)
        with Image.open(io.BytesIO(image.content)) as img:
            assert img.size == (512, 512)
