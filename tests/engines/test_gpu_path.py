"""The GPU path's safety rails, shown on the CPU (research/gpu-review-2026-12.md, issue 18):

* a torch.compile failure (here: dynamo's recompile limit with ``fullgraph``) does not fail
  the task: the engine goes eager and gives the eager result, from the same seed;
* compile warms up at load, so a request at a warmed size compiles nothing;
* an attention backend that cannot run here falls back to native, decided before the
  weights load; a backend without mask support is refused for LTX-2; the process-wide
  default backend is left alone;
* fp8 quantises on the device (``device_map``), per row; the VAE and an image encoder can
  keep float32 under bf16 weights; VAE tiling;
* Wan: sizes and durations it was trained at and that fit, too few steps without a distilled
  LoRA, a second expert's guidance without CFG, and the flow shift per size and task.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from framecast.core.errors import ConfigError, InvalidInput
from framecast.core.spec import ImageInput, ImageSpec, VideoSpec
from framecast.engines._diffusers import pick_flow_shift
from framecast.engines._gpu import usable_backend
from framecast.engines.base import EngineInputs, InputImage, check_capabilities
from framecast.engines.flux import FluxEngine
from framecast.engines.ltx2 import LTX2Engine
from framecast.engines.wan_i2v import WanI2VEngine
from framecast.engines.wan_vace import WanVaceEngine
from tests.engines.conftest import StopLoad
from tests.engines.support.tiny_images import build_flux
from tests.engines.support.tiny_wan import save_tiny_wan

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny FLUX.1 pipeline saved as a diffusers folder."""
    return build_flux(tmp_path_factory.mktemp("tiny-flux") / "flux")


@pytest.fixture(autouse=True)
def fresh_dynamo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Each test starts with dynamo's graphs and limits as a new process has them, and any
    compile cache goes to a temporary folder."""
    import torch._dynamo

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    limit = torch._dynamo.config.recompile_limit
    torch._dynamo.reset()
    yield
    torch._dynamo.config.recompile_limit = limit
    torch._dynamo.reset()


def image_spec(size: int, seed: int = 3) -> ImageSpec:
    return ImageSpec(model="m", prompt="a red robot with a cat", width=size, height=size,
                     size=f"{size}x{size}", seed=seed, watermark=False)


def render(engine: FluxEngine, size: int, work: Path) -> tuple[np.ndarray, dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    out = engine.run(image_spec(size), EngineInputs(images=[], work_dir=work),
                     lambda step, total: None, lambda: False)
    with Image.open(out.files[0].path) as img:
        return np.asarray(img.convert("RGB")), out.info


def flux(folder: Path, **options: Any) -> FluxEngine:
    engine = FluxEngine({"weights": str(folder), "model": "m", "steps": 2, **options})
    engine.load()
    return engine


def unique_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


# -- compile ---------------------------------------------------------------------------------


def test_a_compile_failure_falls_back_to_eager_with_the_eager_result(folder: Path,
                                                                     tmp_path: Path) -> None:
    import torch._dynamo

    compiled = flux(folder, compile=True, compile_backend="eager", warmup=[])
    assert torch._dynamo.config.recompile_limit >= 64       # room for every variant
    first, info = render(compiled, 64, tmp_path / "a")
    assert info["compile"] == "eager"           # the backend's name: it compiled and ran
    # a process where the limit is hit: the next new size cannot compile under fullgraph
    torch._dynamo.config.recompile_limit = 1
    second, info = render(compiled, 96, tmp_path / "b")
    assert info["compile"].startswith("eager (compile failed: FailOnRecompileLimitHit")
    plain = flux(folder)
    assert np.array_equal(second, render(plain, 96, tmp_path / "c")[0])   # same seed, same image
    assert np.array_equal(first, render(plain, 64, tmp_path / "d")[0])
    # from now on it runs eager: no compiled module is left, and nothing compiles again
    assert not any(getattr(m, "_compiled_call_impl", None) is not None
                   for m in compiled.pipe.transformer.modules())
    graphs = unique_graphs()
    render(compiled, 64, tmp_path / "e")
    assert unique_graphs() == graphs


def test_compile_warms_up_at_load_so_a_warmed_size_compiles_nothing(folder: Path,
                                                                    tmp_path: Path) -> None:
    engine = flux(folder, compile=True, compile_backend="eager", warmup=["64x64"],
                  compile_cache_dir=str(tmp_path / "cache"))
    assert engine.runtime["warmup"] == ["64x64"] and engine.runtime["warmup_s"] >= 0
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cache")
    assert (tmp_path / "cache").is_dir()
    graphs = unique_graphs()
    assert graphs > 0
    render(engine, 64, tmp_path / "a")
    assert unique_graphs() == graphs            # the request paid no compile
    render(engine, 96, tmp_path / "b")
    assert unique_graphs() > graphs             # an unwarmed size still compiles, in-request


def test_video_warmup_requests_are_real_requests() -> None:
    engine = WanI2VEngine({"weights": "x/y", "model": "w"})
    spec, images = engine.warmup_request("480p", camera_fixed=True)
    assert isinstance(spec, VideoSpec) and (spec.width, spec.height) == (864, 480)
    assert spec.frames_total == 121 and spec.camera_fixed and len(images) == 1
    assert images[0].role == "first_frame" and images[0].image.size == (864, 480)
    engine.check_inputs(spec, EngineInputs(images=images, work_dir=Path(".")))
    assert WanI2VEngine.default_warmup == ("480p",)
    with pytest.raises(ConfigError, match="warmup must be a list"):
        WanI2VEngine({"weights": "x/y", "warmup": "480p"})


# -- attention backends ----------------------------------------------------------------------


def test_a_backend_that_cannot_run_here_falls_back_to_native() -> None:
    assert usable_backend("_native_math") == ("_native_math", None)
    backend, why = usable_backend("flash")
    assert backend == "native" and "flash-attn" in str(why)
    backend, why = usable_backend("_flash_3_hub")             # needs `kernels` and the hub
    assert backend == "native" and "kernels" in str(why)


def test_a_hub_kernel_already_in_the_cache_is_kept_without_asking_the_hub(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel is fetched with the Hub offline (the local cache only) and diffusers' own
    copy of the offline flag is set too, so no trust lookup goes out."""
    import sys
    import types

    from diffusers.models import attention_dispatch as dispatch

    config = dispatch._HUB_KERNELS_REGISTRY[dispatch.AttentionBackendName._FLASH_3_HUB]
    for field in ("kernel_fn", "wrapped_forward_fn", "wrapped_backward_fn"):
        monkeypatch.setattr(config, field, None)
    monkeypatch.setattr(dispatch, "is_kernels_available", lambda: True)
    monkeypatch.setattr(dispatch, "is_kernels_version", lambda *args: True)
    monkeypatch.setattr(dispatch, "HF_HUB_OFFLINE", False)

    def no_lookup(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("asked the Hub")

    monkeypatch.setattr(dispatch, "get_organization_overview", no_lookup)
    offline_seen: list[bool] = []
    interface = types.SimpleNamespace(_flash_attn_forward=print, _flash_attn_backward=print)
    kernel = types.SimpleNamespace(__name__="fake", flash_attn_func=print,
                                   flash_attn_interface=interface)

    def get_kernel(repo_id: str, **kwargs: Any) -> Any:
        offline_seen.append(os.environ.get("HF_HUB_OFFLINE") == "1")
        return kernel

    monkeypatch.setitem(sys.modules, "kernels", types.SimpleNamespace(get_kernel=get_kernel))
    assert usable_backend("_flash_3_hub") == ("_flash_3_hub", None)
    assert offline_seen == [True] and dispatch.HF_HUB_OFFLINE is False   # restored after


def test_the_fallback_is_decided_before_the_weights_load(
        folder: Path, pretrained_calls: list[dict[str, Any]]) -> None:
    engine = FluxEngine({"weights": str(folder), "attention_backend": "_flash_3_hub"})
    with pytest.raises(StopLoad):
        engine.load()
    assert engine.runtime["attention_backend"] == "native"
    assert "_flash_3_hub cannot run here" in engine.runtime["attention_backend_fallback"]


def test_backend_names_and_masks_are_checked_with_the_options() -> None:
    with pytest.raises(ConfigError, match="is not a diffusers attention backend"):
        FluxEngine({"weights": "x/y", "attention_backend": "flash3"})
    for maskless in ("flash", "_flash_3_hub", "sage"):
        with pytest.raises(ConfigError, match="takes no attention mask"):
            LTX2Engine({"weights": "x/y", "attention_backend": maskless})
    LTX2Engine({"weights": "x/y", "attention_backend": "_native_cudnn"})
    FluxEngine({"weights": "x/y", "attention_backend": "flash"})   # Flux passes no mask


def test_the_backend_is_set_on_the_denoiser_only(folder: Path, tmp_path: Path) -> None:
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    before = _AttentionBackendRegistry._active_backend
    engine = flux(folder, attention_backend="_native_math")
    assert _AttentionBackendRegistry._active_backend == before     # no process-wide default
    backends = {getattr(m.processor, "_attention_backend", None)
                for m in engine.pipe.transformer.modules() if hasattr(m, "processor")}
    assert backends == {AttentionBackendName._NATIVE_MATH}
    pixels, info = render(engine, 64, tmp_path)
    assert info["attention_backend"] == "_native_math" and len(np.unique(pixels)) > 1


# -- dtypes, fp8, tiling ---------------------------------------------------------------------


def test_the_vae_keeps_float32_under_bf16_weights(tmp_path: Path) -> None:
    import torch

    folder = save_tiny_wan(tmp_path / "wan", "a14b")
    engine = WanI2VEngine({"weights": str(folder), "steps": 1, "distilled": True,
                           "native_fps": 2, "dtype": "bfloat16", "vae_dtype": "float32",
                           "vae_tiling": True})
    engine.load()
    assert engine.pipe.transformer.dtype == torch.bfloat16
    assert engine.pipe.vae.dtype == torch.float32 and engine.pipe.vae.use_tiling
    spec = wan_spec(frames=29).model_copy(update={"width": 128, "height": 64,
                                                  "frames_total": 29, "seed": 1})
    picture = Image.linear_gradient("L").resize((160, 90)).convert("RGB")
    out = engine.run(spec, EngineInputs([InputImage("first_frame", picture)], tmp_path),
                     lambda step, total: None, lambda: False)
    assert out.files[0].frames == 29 and (out.files[0].width, out.files[0].height) == (128, 64)
    with pytest.raises(ConfigError, match="vae_dtype is not offered"):
        FluxEngine({"weights": "x/y", "vae_dtype": "float32"})


def test_wan_defaults_to_a_float32_vae_and_image_encoder_where_fp8_leaves_room() -> None:
    import torch

    from framecast.engines._diffusers import pipeline_class

    bf16 = {"weights": "x/y", "dtype": "bfloat16", "device": "cuda"}
    assert WanI2VEngine(bf16).vae_dtype == torch.bfloat16      # 80 GB: no room in bf16
    fp8 = WanI2VEngine({**bf16, "quantize": "fp8"})
    assert fp8.vae_dtype == torch.float32
    dtypes = fp8.component_dtypes(pipeline_class("WanImageToVideoPipeline"))
    assert dtypes == {"default": torch.bfloat16, "vae": torch.float32,
                      "image_encoder": torch.float32}
    assert FluxEngine({**bf16, "quantize": "fp8"}).vae_dtype == torch.bfloat16
    with pytest.raises(ConfigError, match="vae_tiling is not offered for LTX-2"):
        LTX2Engine({"weights": "x/y", "vae_tiling": True})


def test_fp8_quantises_on_the_device_when_nothing_is_offloaded(
        folder: Path, pretrained_calls: list[dict[str, Any]]) -> None:
    for options in ({"device": "cuda"}, {"device": "cuda", "offload": "model"},
                    {"device": "cpu"}, {"device": "cuda:1"}):
        with pytest.raises(StopLoad):
            FluxEngine({"weights": str(folder), "quantize": "fp8", **options}).load()
    on_device, offloaded, cpu, second_gpu = pretrained_calls
    assert on_device["device_map"] == "cuda" and "quantization_config" in on_device
    assert "device_map" not in offloaded and "device_map" not in cpu
    # diffusers' device_map takes "cuda", not "cuda:1": that one quantises while loading
    assert "device_map" not in second_gpu and "quantization_config" in second_gpu


# -- Wan: what it accepts --------------------------------------------------------------------


def wan_spec(**fields: Any) -> VideoSpec:
    base: dict[str, Any] = {"model": "w", "prompt": "a boat", "resolution": "480p",
                            "ratio": "16:9", "fps": 24,
                            "images": [ImageInput(role="first_frame", url="data:")]}
    return VideoSpec(**{**base, **fields})


def test_wan_refuses_what_it_was_not_trained_for_naming_the_field() -> None:
    caps = WanI2VEngine.capabilities_for({"quantize": "fp8"})
    for spec, param in ((wan_spec(duration=10), "duration"),
                        (wan_spec(frames=193), "frames"),
                        (wan_spec(resolution="1080p"), "resolution")):
        with pytest.raises(InvalidInput) as caught:
            check_capabilities(caps, spec, engine="wan_i2v")
        assert caught.value.param == param
    check_capabilities(caps, wan_spec(duration=5), engine="wan_i2v")
    check_capabilities(caps, wan_spec(resolution="720p"), engine="wan_i2v")
    with pytest.raises(InvalidInput, match="resolution 720p"):
        check_capabilities(WanI2VEngine.capabilities_for({}), wan_spec(resolution="720p"),
                           engine="wan_i2v")
    assert WanVaceEngine.capabilities.max_seconds == 5.0
    # LTX-2: 1080p in bf16 does not fit 80 GB; with fp8 it does
    assert "1080p" not in LTX2Engine.capabilities_for({}).resolutions
    assert "1080p" in LTX2Engine.capabilities_for({"quantize": "fp8"}).resolutions


def test_wan_refuses_schedules_that_silently_degrade() -> None:
    with pytest.raises(ConfigError, match="steps = 4 needs a step-distilled LoRA"):
        WanI2VEngine({"weights": "x/y", "steps": 4})
    with pytest.raises(ConfigError, match="steps = 4 needs a step-distilled LoRA"):
        WanVaceEngine({"weights": "x/y", "steps": 4})
    WanI2VEngine({"weights": "x/y", "steps": 4, "loras": ["/models/lightx2v.safetensors"]})
    WanI2VEngine({"weights": "x/y", "steps": 4, "distilled": True})
    with pytest.raises(ConfigError, match=r"guidance_scale_2 = 3\.5 has no effect"):
        WanI2VEngine({"weights": "x/y", "guidance_scale": 1.0, "guidance_scale_2": 3.5})
    WanI2VEngine({"weights": "x/y", "guidance_scale": 3.5, "guidance_scale_2": 1.0})


def test_a_flow_shift_table_is_only_for_the_engines_that_read_it() -> None:
    with pytest.raises(ConfigError, match="flow_shift is one number for this engine"):
        FluxEngine({"weights": "x/y", "flow_shift": {"default": 3.0}})
    with pytest.raises(ConfigError, match="flow_shift is one number for this engine"):
        LTX2Engine({"weights": "x/y", "flow_shift": {"720p": 3.0}})
    FluxEngine({"weights": "x/y", "flow_shift": 3.0})
    WanVaceEngine({"weights": "x/y", "flow_shift": {"480p": 3.0}})


def test_the_flow_shift_follows_the_size_and_the_task(tmp_path: Path) -> None:
    table = {"480p": 3.0, "720p": 5.0, "first_last": 16.0}
    assert pick_flow_shift(table, resolution="480p", first_last=False) == 3.0
    assert pick_flow_shift(table, resolution="720p", first_last=True) == 16.0
    assert pick_flow_shift({"default": 7.0}, resolution="480p", first_last=False) == 7.0
    assert pick_flow_shift(4.0, resolution="720p", first_last=True) == 4.0
    assert pick_flow_shift(None, resolution="720p", first_last=True) is None
    with pytest.raises(ConfigError, match="flow_shift keys are"):
        WanI2VEngine({"weights": "x/y", "flow_shift": {"540p": 3.0}})

    folder = save_tiny_wan(tmp_path / "wan21", "wan21", flf=False)
    engine = WanI2VEngine({"weights": str(folder), "variant": "wan21", "steps": 1,
                           "distilled": True})
    engine.load()
    shifts = {}
    for resolution in ("480p", "720p"):
        engine.scheduler_for(wan_spec(resolution=resolution))
        shifts[resolution] = engine.pipe.scheduler.config.flow_shift
    assert shifts == {"480p": 3.0, "720p": 5.0}              # Wan2.1 I2V, as its authors run it
    engine.scheduler_for(wan_spec(resolution="480p"), first_last=True)
    assert engine.pipe.scheduler.config.flow_shift == 3.0    # I2V weights: no FLF2V shift

    flf = WanI2VEngine({"weights": str(save_tiny_wan(tmp_path / "flf", "wan21", flf=True)),
                        "variant": "wan21", "steps": 1, "distilled": True})
    flf.load()
    flf.scheduler_for(wan_spec(resolution="720p"))
    assert flf.pipe.scheduler.config.flow_shift == 16.0      # the FLF2V model runs at 16


def test_a_run_reports_its_fast_path(folder: Path, tmp_path: Path) -> None:
    engine = flux(folder, attention_backend="flash")
    _, info = render(engine, 64, tmp_path)
    assert info["attention_backend"] == "native"
    assert "flash cannot run here" in info["attention_backend_fallback"]
