"""The machinery every diffusers engine shares (``engines/_diffusers.py``), on the CPU: option
parsing, LoRAs from local files (really loaded into a tiny FLUX.1 pipeline), the static-camera
LoRA, placement and speed options, fp8 quantisation, dtypes and the frame helpers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from framecast.core.errors import ConfigError
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.engines._diffusers import (
    CAMERA_FIXED_INSTRUCTION,
    DiffusersOptions,
    LoraFile,
    WeightsMissing,
    fp8_quantization_config,
    legal_size,
    native_frame_count,
    retimed,
    to_uint8_frames,
)
from framecast.engines.base import EngineInputs
from framecast.engines.flux import FluxEngine
from tests.engines.conftest import StopLoad
from tests.engines.support.tiny_images import build_flux

SIZE = 64           # a 64×64 image is an 8×8 latent: the pipeline runs in a blink
SEED = 3
# the attention backend diffusers 0.42.1 names plain torch scaled_dot_product_attention
NATIVE_BACKEND = "native"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny FLUX.1 pipeline saved as a diffusers folder."""
    return build_flux(tmp_path_factory.mktemp("tiny-flux") / "flux")


@pytest.fixture(scope="module")
def lora_file(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LoRA for the tiny transformer (rank 4 on ``to_q``/``to_k``/``to_v``), saved the
    way trainers do: peft's state dict through ``FluxPipeline.save_lora_weights``. Its B
    matrices are random, not the zeros peft starts them at, so it changes the output."""
    import torch
    from diffusers import FluxPipeline, FluxTransformer2DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer = FluxTransformer2DModel.from_pretrained(str(folder / "transformer"))
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4,
                                       target_modules=["to_q", "to_k", "to_v"]))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in transformer.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    state = get_peft_model_state_dict(transformer)
    assert state and all("lora_" in key for key in state)
    out = tmp_path_factory.mktemp("lora")
    FluxPipeline.save_lora_weights(str(out), transformer_lora_layers=state,
                                   weight_name="tiny_lora.safetensors")
    path = out / "tiny_lora.safetensors"
    assert path.is_file()
    return path


def flux(folder: Path, **options: Any) -> FluxEngine:
    """A FLUX engine on the tiny folder with 2 steps and ``options``, loaded."""
    engine = FluxEngine({"weights": str(folder), "model": "m", "steps": 2, **options})
    engine.load()
    return engine


@pytest.fixture(scope="module")
def plain(folder: Path) -> FluxEngine:
    """The tiny FLUX engine without LoRAs."""
    return flux(folder)


def image_spec(seed: int = SEED) -> ImageSpec:
    """A resolved Seedream spec of ``SIZE``×``SIZE``."""
    return ImageSpec(model="m", prompt="a red robot with a cat", width=SIZE, height=SIZE,
                     size=f"{SIZE}x{SIZE}", seed=seed, watermark=False)


def video_spec(*, camera_fixed: bool = False, fps: int = 24, frames_total: int = 121,
               **extra: Any) -> VideoSpec:
    """A resolved Seedance spec (text-to-video)."""
    return VideoSpec(model="m", prompt="a dog on a wall", width=864, height=480, fps=fps,
                     frames_total=frames_total, seed=SEED, camera_fixed=camera_fixed, **extra)


def render(engine: FluxEngine, work_dir: Path) -> np.ndarray:
    """Run ``engine`` on ``image_spec()`` and return the PNG's pixels."""
    work_dir.mkdir(parents=True, exist_ok=True)
    outputs = engine.run(image_spec(), EngineInputs(images=[], work_dir=work_dir),
                         lambda step, total: None, lambda: False)
    with Image.open(outputs.files[0].path) as img:
        assert img.size == (SIZE, SIZE)
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def denoise(engine: FluxEngine) -> np.ndarray:
    """One step of the loaded pipeline on a fixed prompt and seed, as floats: what the
    transformer's current adapters make of it (no prompt rewriting in between)."""
    result = engine.pipe(prompt="a cat", width=SIZE, height=SIZE, num_inference_steps=1,
                         generator=engine.generator(SEED), output_type="np")
    return np.asarray(result.images[0])


def enabled_adapters(engine: FluxEngine) -> list[str]:
    """The adapters that act on the transformer: its active adapters, or none while its
    LoRA layers are disabled (``disable_lora`` keeps the active list as it was)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in engine.pipe.transformer.modules() if isinstance(m, BaseTunerLayer)]
    assert layers, "no LoRA layers in the transformer"
    if all(layer.disable_adapters for layer in layers):
        return []
    assert not any(layer.disable_adapters for layer in layers)
    return sorted(engine.pipe.get_active_adapters())


# -- 1. options ---------------------------------------------------------------------------


def parse(**options: Any) -> DiffusersOptions:
    """``DiffusersOptions.parse`` for a made-up engine ``e`` with one extra key."""
    return DiffusersOptions.parse(options, engine="e", extra_keys=("variant",))


def test_options_defaults_and_extra_keys() -> None:
    opts = parse(weights="/w", variant="dev", steps=200, compile=True)
    assert (opts.dtype, opts.device, opts.offload, opts.quantize) == ("auto", "auto", "none",
                                                                      None)
    assert opts.steps == 200 and opts.compile and opts.extra == {"variant": "dev"}
    assert opts.loras == () and opts.static_camera_lora is None
    assert parse(steps=1).steps == 1


@pytest.mark.parametrize(("options", "words"), [
    ({"stepz": 4}, r"engine e options: unknown keys stepz \(known: .*steps"),
    ({"dtype": "fp16"}, "dtype must be one of auto, bfloat16, float16, float32, got 'fp16'"),
    ({"offload": "disk"}, "offload must be one of none, model, sequential, group, got 'disk'"),
    ({"quantize": "int4"}, "quantize must be one of fp8"),
    ({"steps": 0}, r"steps must be within 1\.\.200"),
    ({"steps": 201}, r"steps must be within 1\.\.200"),
    ({"loras": [{"path": "/a", "weight": 1}]}, r"loras\[0\]: unknown LoRA keys weight"),
    ({"loras": ["/a", {"path": "/b", "expert": "mid"}]},
     r"loras\[1\]: LoRA expert must be one of all, high, low"),
    ({"loras": [{"scale": 0.5}]}, r"loras\[0\]: a LoRA is a path or a table with `path`"),
    ({"static_camera_lora": {"path": "/a", "rank": 4}},
     "static_camera_lora: unknown LoRA keys rank"),
])
def test_bad_options_are_config_errors(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse(**options)


def test_loras_from_strings_and_tables() -> None:
    opts = parse(loras=["/models/a.safetensors",
                        {"path": "/models/b.safetensors", "scale": 0.5, "expert": "low"}],
                 static_camera_lora="/models/static.safetensors")
    assert opts.loras == (LoraFile("/models/a.safetensors", 1.0, "all"),
                          LoraFile("/models/b.safetensors", 0.5, "low"))
    assert opts.static_camera_lora == LoraFile("/models/static.safetensors")
    # the engines parse their options the same way, naming themselves
    with pytest.raises(ConfigError, match="engine flux options: unknown keys lora"):
        FluxEngine({"weights": "/nowhere", "lora": "/a"})


# -- 2. LoRAs from local files ------------------------------------------------------------


def test_a_lora_changes_the_image(folder: Path, lora_file: Path, plain: FluxEngine,
                                  tmp_path: Path) -> None:
    with_lora = flux(folder, loras=[{"path": str(lora_file), "scale": 1.0}], fuse_loras=False)
    assert with_lora.pipe.get_list_adapters() == {"transformer": ["lora0"]}
    assert enabled_adapters(with_lora) == ["lora0"]
    base = render(plain, tmp_path / "plain")
    changed = render(with_lora, tmp_path / "lora")
    diff = np.abs(changed.astype(int) - base.astype(int))
    # the tiny random VAE keeps every image near grey, so the change is small but widespread
    assert diff.max() >= 2 and (diff.max(axis=-1) > 0).mean() > 0.25
    assert np.array_equal(render(plain, tmp_path / "again"), base)     # same seed, same image

    # the scale reaches the adapter: at 0 the LoRA adds nothing
    muted = flux(folder, loras=[{"path": str(lora_file), "scale": 0.0}], fuse_loras=False)
    assert np.array_equal(render(muted, tmp_path / "muted"), base)


def test_loras_are_fused_into_the_weights_by_default(folder: Path, lora_file: Path,
                                                     tmp_path: Path) -> None:
    """Merged at their scales, with no adapter layers left: the same image as the adapters
    give, without their extra low-rank products at every step."""
    loras = [{"path": str(lora_file), "scale": 0.7}]
    adapters = flux(folder, loras=loras, fuse_loras=False)
    fused = flux(folder, loras=loras)
    assert fused.pipe.get_list_adapters() == {} and fused.runtime_info()["loras_fused"] == 1
    assert np.array_equal(render(fused, tmp_path / "fused"),
                          render(adapters, tmp_path / "adapters"))


@pytest.mark.parametrize("key", ["loras", "static_camera_lora"])
def test_a_missing_lora_file_is_weights_missing(folder: Path, tmp_path: Path,
                                                key: str) -> None:
    missing = tmp_path / "no-such-lora.safetensors"
    value: Any = [{"path": str(missing)}] if key == "loras" else str(missing)
    engine = FluxEngine({"weights": str(folder), "model": "my-model", key: value})
    with pytest.raises(WeightsMissing) as caught:
        engine.load()
    assert str(missing) in str(caught.value) and "my-model" in str(caught.value)


# -- 3. the static-camera LoRA ------------------------------------------------------------


def test_static_camera_lora_only_for_camera_fixed(folder: Path, lora_file: Path,
                                                  plain: FluxEngine) -> None:
    engine = flux(folder, static_camera_lora=str(lora_file))
    assert enabled_adapters(engine) == []          # loaded, but off until asked for
    assert np.array_equal(denoise(engine), denoise(plain))

    moving = video_spec(camera_fixed=False)
    assert engine.prompt_for(moving) == "a dog on a wall"
    assert "static_camera" not in enabled_adapters(engine)

    fixed = video_spec(camera_fixed=True)
    prompt = engine.prompt_for(fixed)
    assert prompt.endswith(CAMERA_FIXED_INSTRUCTION) and prompt.startswith("a dog on a wall ")
    assert enabled_adapters(engine) == ["static_camera"]
    assert not np.array_equal(denoise(engine), denoise(plain))      # and it acts

    engine.prompt_for(moving)                      # the next task switches it off again
    assert enabled_adapters(engine) == []
    assert np.array_equal(denoise(engine), denoise(plain))
    engine.prompt_for(image_spec())                # images have no camera
    assert enabled_adapters(engine) == []


def test_with_fp8_the_loras_merge_in_full_precision_then_the_denoiser_is_quantised(
        folder: Path, lora_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Merging into float8 weights would dequantise and requantise per adapter (and peft's
    float8 merge of several adapters fails): the load skips quantisation, merges, quantises
    each denoiser, and only then loads the static-camera LoRA, unquantised."""
    from diffusers import FluxPipeline

    import framecast.engines._diffusers as module

    loads: list[dict[str, Any]] = []
    real_from_pretrained = FluxPipeline.from_pretrained.__func__

    def spy(cls: Any, path: str, **kwargs: Any) -> Any:
        loads.append(kwargs)
        return real_from_pretrained(cls, path, **kwargs)

    quantised: list[tuple[Any, bool, str]] = []

    def quantize(denoiser: Any, granularity: str) -> None:
        quantised.append((denoiser, hasattr(denoiser, "peft_config"), granularity))

    monkeypatch.setattr(FluxPipeline, "from_pretrained", classmethod(spy))
    monkeypatch.setattr(module, "quantize_fp8", quantize)
    engine = flux(folder, quantize="fp8", device="cpu", static_camera_lora=str(lora_file),
                  loras=[{"path": str(lora_file), "scale": 0.5},
                         {"path": str(lora_file), "scale": 0.25}])
    (kwargs,) = loads
    assert "quantization_config" not in kwargs
    # quantised once, merged, with no adapter in it yet
    assert quantised == [(engine.pipe.transformer, False, "row")]
    assert engine.runtime_info()["loras_fused"] == 2
    assert engine.pipe.get_list_adapters() == {"transformer": ["static_camera"]}


def test_static_camera_lora_joins_the_configured_loras(folder: Path, lora_file: Path) -> None:
    engine = flux(folder, loras=[{"path": str(lora_file), "scale": 0.5}],
                  static_camera_lora={"path": str(lora_file), "scale": 0.8}, fuse_loras=False)
    assert enabled_adapters(engine) == ["lora0"]
    engine.prompt_for(video_spec(camera_fixed=True))
    assert enabled_adapters(engine) == ["lora0", "static_camera"]
    engine.prompt_for(video_spec(camera_fixed=False))
    assert enabled_adapters(engine) == ["lora0"]


def test_the_static_camera_lora_still_switches_over_fused_loras(folder: Path,
                                                                lora_file: Path) -> None:
    """A merged layer would ignore adapters switched on later: the static-camera LoRA is
    loaded after the merge, and acts only for ``camera_fixed``."""
    engine = flux(folder, loras=[{"path": str(lora_file), "scale": 0.5}],
                  static_camera_lora={"path": str(lora_file), "scale": 0.8})
    unfused = flux(folder, loras=[{"path": str(lora_file), "scale": 0.5}], fuse_loras=False)
    assert enabled_adapters(engine) == []
    # merged weights round differently from adapter products: equal to float32 precision
    assert np.allclose(denoise(engine), denoise(unfused), atol=1e-5)
    engine.prompt_for(video_spec(camera_fixed=True))
    assert enabled_adapters(engine) == ["static_camera"]
    assert np.abs(denoise(engine) - denoise(unfused)).max() > 1e-3


# -- 4. placement, attention backend, compile ---------------------------------------------


Calls = list[tuple[str, Any, tuple[Any, ...], dict[str, Any]]]


def recorder(calls: Calls, name: str) -> Callable[..., None]:
    """A stand-in method that records ``(name, self, args, kwargs)`` and does nothing."""
    def record(self: Any, *args: Any, **kwargs: Any) -> None:
        calls.append((name, self, args, kwargs))
    return record


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Every placement and speed method of diffusers replaced by a recorder (none can work
    without a GPU); the list of calls they saw."""
    from diffusers import DiffusionPipeline, ModelMixin

    seen: Calls = []
    for cls, name in ((DiffusionPipeline, "enable_model_cpu_offload"),
                      (DiffusionPipeline, "enable_sequential_cpu_offload"),
                      (ModelMixin, "enable_group_offload"),
                      (ModelMixin, "compile_repeated_blocks"),
                      (ModelMixin, "compile"),
                      (ModelMixin, "set_attention_backend")):
        monkeypatch.setattr(cls, name, recorder(seen, name))
    return seen


@pytest.mark.parametrize(("offload", "method"), [
    ("model", "enable_model_cpu_offload"),
    ("sequential", "enable_sequential_cpu_offload"),
])
def test_offload_of_the_whole_pipeline(folder: Path, calls: Calls, offload: str,
                                       method: str) -> None:
    engine = flux(folder, offload=offload)
    assert calls == [(method, engine.pipe, (), {"device": "cpu"})]


def test_group_offload_streams_the_denoiser_blocks(folder: Path, calls: Calls) -> None:
    engine = flux(folder, offload="group", device="cpu")
    ((name, module, args, kwargs),) = calls
    assert name == "enable_group_offload" and module is engine.pipe.transformer and not args
    assert kwargs == {"onload_device": "cpu", "offload_type": "block_level",
                      "num_blocks_per_group": 1, "use_stream": True}


def test_attention_backend_and_compile(folder: Path, calls: Calls) -> None:
    engine = flux(folder, attention_backend="_native_math", compile=True, warmup=[])
    # the backend first, then the compile of the repeated blocks, both on the denoiser only
    assert calls == [
        ("set_attention_backend", engine.pipe.transformer, ("_native_math",), {}),
        ("compile_repeated_blocks", engine.pipe.transformer, (),
         {"fullgraph": True, "backend": "inductor", "dynamic": None}),
    ]
    assert engine.runtime_info() == {"attention_backend": "_native_math", "compile": "inductor"}


def test_native_attention_backend_runs_on_the_cpu(folder: Path, plain: FluxEngine,
                                                  tmp_path: Path) -> None:
    from diffusers.models.attention_dispatch import AttentionBackendName

    assert AttentionBackendName(NATIVE_BACKEND) is AttentionBackendName.NATIVE
    engine = flux(folder, attention_backend=NATIVE_BACKEND)
    processors = {getattr(m.processor, "_attention_backend", None)
                  for m in engine.pipe.transformer.modules() if hasattr(m, "processor")}
    assert processors == {AttentionBackendName.NATIVE}
    pixels = render(engine, tmp_path / "native")
    assert len(np.unique(pixels)) > 1
    # native is the default's own kernel: the same image as without the option
    assert np.array_equal(pixels, render(plain, tmp_path / "plain"))


# -- 5. fp8 ---------------------------------------------------------------------------------


def test_fp8_quantization_config() -> None:
    # Float8 weights with dynamic float8 activations need a Hopper-class GPU: on the CPU this
    # can only check the config that diffusers would get, not run it.
    from diffusers import PipelineQuantizationConfig, TorchAoConfig
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig

    config = fp8_quantization_config(["transformer", "transformer_2"])
    assert isinstance(config, PipelineQuantizationConfig)
    assert set(config.quant_mapping) == {"transformer", "transformer_2"}
    for quant in config.quant_mapping.values():
        assert isinstance(quant, TorchAoConfig)
        assert isinstance(quant.quant_type, Float8DynamicActivationFloat8WeightConfig)
        # scales per output row by default; torchao's process-wide inductor tuning stays off
        assert {type(g).__name__ for g in quant.quant_type.granularity} == {"PerRow"}
        assert quant.quant_type.set_inductor_config is False
    per_tensor = fp8_quantization_config(["transformer"], granularity="tensor")
    assert {type(g).__name__ for g in per_tensor.quant_mapping["transformer"].quant_type
            .granularity} == {"PerTensor"}


def test_fp8_load_passes_the_quantization_config(folder: Path,
                                                 pretrained_calls: list[dict[str, Any]]) -> None:
    from diffusers import PipelineQuantizationConfig

    engine = FluxEngine({"weights": str(folder), "quantize": "fp8"})
    with pytest.raises(StopLoad):
        engine.load()
    ((kwargs),) = pretrained_calls
    assert kwargs["path"] == str(folder)
    config = kwargs["quantization_config"]
    assert isinstance(config, PipelineQuantizationConfig)
    assert set(config.quant_mapping) == {"transformer"}        # FLUX has one denoiser

    with pytest.raises(StopLoad):
        FluxEngine({"weights": str(folder)}).load()
    assert "quantization_config" not in pretrained_calls[1]


# -- 6. frames and sizes ------------------------------------------------------------------


def test_native_frame_count() -> None:
    five_seconds = video_spec(duration=5, frames_total=121)
    assert native_frame_count(five_seconds, 16, 4) == 81         # Wan: 4n+1 at 16 fps
    assert native_frame_count(five_seconds, 24, 8) == 121        # LTX: 8n+1 at 24 fps
    frames_29 = video_spec(frames=29, frames_total=29)
    assert native_frame_count(frames_29, 24, 8) == 33
    assert native_frame_count(video_spec(frames=29, frames_total=29), 16, 4) == 21
    assert native_frame_count(video_spec(frames_total=2), 16, 8) == 9      # at least one step


def test_legal_size() -> None:
    assert legal_size(1000, 600, 16) == (992, 608)
    assert legal_size(864, 480, 32) == (864, 480)
    assert legal_size(5, 7, 16) == (16, 16)
    assert legal_size(1000, 600, 8) == (1000, 600)


def frames_of(count: int, size: int = 32) -> list[np.ndarray]:
    """``count`` distinct frames: a bright square moving right over a gradient."""
    base = np.tile(np.linspace(0, 120, size, dtype=np.uint8), (size, 1))
    out = []
    for n in range(count):
        frame = np.stack([base] * 3, axis=-1).copy()
        x = 2 + n % (size - 10)
        frame[10:18, x:x + 8] = (250, 200, 40)
        out.append(frame)
    return out


def test_retimed() -> None:
    same = frames_of(5)
    assert all(a is b for a, b in zip(list(retimed(same, 5)), same, strict=True))

    source = frames_of(33)
    out = list(retimed(source, 49))
    assert len(out) == 49
    assert all(f.shape == (32, 32, 3) and f.dtype == np.uint8 for f in out)
    assert np.array_equal(out[0], source[0]) and np.array_equal(out[-1], source[-1])
    # output i sits at source position i·32/48: every third output is a source frame
    assert all(np.array_equal(out[3 * k], source[2 * k]) for k in range(17))
    assert not any(np.array_equal(out[1], f) for f in source)          # an in-between

    assert len(list(retimed(source, 17))) == 17                        # fewer frames too
    with pytest.raises(ValueError, match="no frames"):
        list(retimed([], 3))


def test_to_uint8_frames() -> None:
    rng = np.random.default_rng(0)
    video = rng.random((1, 3, 8, 10, 3), dtype=np.float32)
    frames = to_uint8_frames(video)
    assert len(frames) == 3
    assert all(f.shape == (8, 10, 3) and f.dtype == np.uint8 for f in frames)
    assert np.array_equal(frames[1], np.rint(video[0, 1] * 255).astype(np.uint8))

    import torch

    channels_first = torch.from_numpy(np.moveaxis(video[0], -1, 1).copy())   # (F,C,H,W)
    assert channels_first.shape == (3, 3, 8, 10)
    again = to_uint8_frames(channels_first)
    assert all(np.array_equal(a, b) for a, b in zip(again, frames, strict=True))
    assert to_uint8_frames(np.moveaxis(video[0], -1, 1))[2].shape == (8, 10, 3)

    out_of_range = to_uint8_frames(np.array([[[[-0.5, 0.5, 1.5]]]], dtype=np.float32))
    assert out_of_range[0].tolist() == [[[0, 128, 255]]]

    pil = [Image.fromarray(f) for f in frames]
    assert all(np.array_equal(a, b) for a, b in zip(to_uint8_frames(pil), frames, strict=True))
    assert len(to_uint8_frames([pil])) == 3                    # a batch of one PIL list
    grey = to_uint8_frames([Image.new("L", (4, 2), 9)])
    assert grey[0].shape == (2, 4, 3) and int(grey[0].max()) == 9

    with pytest.raises(ValueError, match="unexpected video output shape"):
        to_uint8_frames(np.zeros((8, 10, 3), dtype=np.float32))


# -- 7. dtype -------------------------------------------------------------------------------


def test_dtype_option() -> None:
    import torch

    assert not torch.cuda.is_available()
    assert FluxEngine({"weights": "/nowhere"}).torch_dtype is torch.float32
    assert FluxEngine({"weights": "/nowhere", "device": "cuda"}).torch_dtype is torch.bfloat16
    assert FluxEngine({"weights": "/nowhere", "dtype": "bfloat16"}).torch_dtype is torch.bfloat16
    assert FluxEngine({"weights": "/nowhere", "dtype": "float16",
                       "device": "cuda"}).torch_dtype is torch.float16


def test_dtype_reaches_the_weights(folder: Path) -> None:
    import torch

    engine = flux(folder, dtype="bfloat16")
    assert engine.pipe.transformer.dtype is torch.bfloat16
    assert engine.pipe.vae.dtype is torch.bfloat16
    assert flux(folder).pipe.transformer.dtype is torch.float32
