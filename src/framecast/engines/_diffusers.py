"""What every diffusers engine shares: options, weights, loading, steps, seeds and outputs.

The engines (``wan_i2v``, ``wan_vace``, ``ltx2``, ``zimage``, ``flux``, ``sdxl``) subclass
:class:`DiffusersEngine`. torch and diffusers are imported lazily, inside the worker child,
so the API process and the CPU engines never pay for them (``pip install
'framecast[diffusers]'`` brings them).

A registry entry selects the weights and tunes the engine::

    [[models]]
    id = "wan22-i2v"
    kind = "video"
    engine = "wan_i2v"
    weights = "/models/Wan2.2-I2V-A14B-Diffusers"     # a local folder or a hub id
    [models.options]
    dtype = "bfloat16"            # bfloat16 | float16 | float32 | auto (bf16 on GPU, fp32 on CPU)
    device = "cuda"               # cuda | cuda:1 | cpu | auto
    offload = "none"              # none | model | sequential | group
    attention_backend = "_flash_3_hub"   # any diffusers attention backend name
    compile = true                # torch.compile of the repeated transformer blocks
    quantize = "fp8"              # torchao float8 weights of the denoiser(s)
    steps = 4                     # denoising steps (default: the engine's)
    guidance_scale = 1.0
    flow_shift = 5.0              # flow-matching schedulers (Wan): replaces the weights' shift
    request_guidance = false      # ignore a request's guidance_scale (default: only on
                                  # distilled weights, which run without guidance)
    loras = [{ path = "/models/lightx2v/high.safetensors", expert = "high", scale = 1.0 }]
    static_camera_lora = "/models/LTX-2-19b-LoRA-Camera-Control-Static.safetensors"

A hub id is read from the local Hugging Face cache only (``HF_HUB_CACHE`` / ``HF_HOME``):
nothing is downloaded while serving, and weights that are not there are a
:class:`WeightsMissing` error that names the model, the path or id, and the command that
fetches them.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from framecast.core.errors import ConfigError, InvalidInput
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.engines._flow import FlowMorph
from framecast.engines.base import (
    Cancelled,
    CancelledFn,
    Engine,
    EngineInputs,
    OutputFileInfo,
    ProgressFn,
)
from framecast.engines.weights import WeightsMissing, resolve_weights
from framecast.media.images import fit_cover, fit_last_frame
from framecast.media.video import AudioTrack, VideoWriter, save_png

# What the vendor does with camera_fixed: it appends an instruction to the prompt ("the
# platform will append instructions to fix the camera position in the user's prompt").
CAMERA_FIXED_INSTRUCTION = ("The camera stays fixed: a static, locked-off shot with no camera "
                            "movement.")
OFFLOAD_MODES = ("none", "model", "sequential", "group")
DTYPES = ("auto", "bfloat16", "float16", "float32")
QUANTIZE_MODES = ("fp8",)
LORA_EXPERTS = ("all", "high", "low")
# the pipeline components that hold the denoiser(s) a LoRA, a backend or compile applies to
DENOISERS = ("transformer", "transformer_2", "unet")


@dataclass(frozen=True)
class LoraFile:
    """A LoRA from a local file. ``expert`` picks the Wan2.2 denoiser it goes into: ``high``
    (``transformer``, the high-noise expert), ``low`` (``transformer_2``) or ``all``."""

    path: str
    scale: float = 1.0
    expert: str = "all"

    @classmethod
    def parse(cls, value: Any, *, where: str) -> LoraFile:
        """A LoRA from a path string or a ``{path, scale, expert}`` table."""
        if isinstance(value, str):
            value = {"path": value}
        if not isinstance(value, dict) or "path" not in value:
            raise ConfigError(f"{where}: a LoRA is a path or a table with `path`")
        unknown = sorted(set(value) - {"path", "scale", "expert"})
        if unknown:
            raise ConfigError(f"{where}: unknown LoRA keys {', '.join(unknown)}")
        lora = cls(path=str(value["path"]), scale=float(value.get("scale", 1.0)),
                   expert=str(value.get("expert", "all")))
        if lora.expert not in LORA_EXPERTS:
            raise ConfigError(f"{where}: LoRA expert must be one of {', '.join(LORA_EXPERTS)}")
        return lora


@dataclass(frozen=True)
class DiffusersOptions:
    """The options every diffusers engine takes (engine-specific ones land in ``extra``)."""

    weights: str | None = None
    model: str = ""
    dtype: str = "auto"
    device: str = "auto"
    offload: str = "none"
    attention_backend: str | None = None
    compile: bool = False
    quantize: str | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    guidance_scale_2: float | None = None
    request_guidance: bool | None = None
    flow_shift: float | None = None
    loras: tuple[LoraFile, ...] = ()
    static_camera_lora: LoraFile | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: dict[str, Any], *, engine: str,
              extra_keys: Sequence[str] = ()) -> DiffusersOptions:
        """Check and convert a registry entry's options; ``ConfigError`` names a bad key."""
        where = f"engine {engine} options"
        known = {f.name for f in fields(cls)} - {"extra"}
        unknown = sorted(set(options) - known - set(extra_keys))
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(unknown)} (known: "
                              f"{', '.join(sorted(known | set(extra_keys)))})")
        values = {k: v for k, v in options.items() if k in known}
        values["loras"] = tuple(LoraFile.parse(v, where=f"{where} loras[{n}]")
                                for n, v in enumerate(options.get("loras") or []))
        if options.get("static_camera_lora"):
            values["static_camera_lora"] = LoraFile.parse(options["static_camera_lora"],
                                                          where=f"{where} static_camera_lora")
        out = cls(**values, extra={k: options[k] for k in extra_keys if k in options})
        for name, value, allowed in (("dtype", out.dtype, DTYPES),
                                     ("offload", out.offload, OFFLOAD_MODES)):
            if value not in allowed:
                raise ConfigError(f"{where}: {name} must be one of {', '.join(allowed)}, "
                                  f"got {value!r}")
        if out.quantize is not None and out.quantize not in QUANTIZE_MODES:
            raise ConfigError(f"{where}: quantize must be one of {', '.join(QUANTIZE_MODES)}")
        if out.steps is not None and not 1 <= int(out.steps) <= 200:
            raise ConfigError(f"{where}: steps must be within 1..200")
        shift = out.flow_shift
        if shift is not None and (isinstance(shift, bool) or not isinstance(shift, (int, float))
                                  or shift <= 0):
            raise ConfigError(f"{where}: flow_shift must be a number above 0, got {shift!r}")
        return out


def import_torch() -> Any:
    """torch, or a ``ConfigError`` saying how to install the extra."""
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise ConfigError("the diffusers engines need torch and diffusers: "
                          "pip install 'framecast[diffusers]'") from exc


def pipeline_class(name: str) -> Any:
    """A diffusers pipeline class by name (``WanImageToVideoPipeline``)."""
    import_torch()
    try:
        diffusers = importlib.import_module("diffusers")
    except ImportError as exc:
        raise ConfigError("the diffusers engines need diffusers: "
                          "pip install 'framecast[diffusers]'") from exc
    cls = getattr(diffusers, name, None)
    if cls is None:
        raise ConfigError(f"diffusers {diffusers.__version__} has no {name}")
    return cls


class DiffusersEngine(Engine):
    """Base of the diffusers engines: ``load()`` builds the pipeline once per child;
    subclasses implement ``run`` with the helpers below.

    Subclasses set ``pipeline_class_name``, ``default_steps``, ``default_guidance``, and
    list their own option keys in ``extra_option_keys``.
    """

    pipeline_class_name: ClassVar[str] = ""
    default_steps: ClassVar[int] = 30
    default_guidance: ClassVar[float] = 5.0
    extra_option_keys: ClassVar[tuple[str, ...]] = ()
    # variant name -> (steps, guidance) defaults, picked by a ``variant`` option; none: {}
    variants: ClassVar[dict[str, tuple[int, float]]] = {}
    default_variant: ClassVar[str] = ""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        extra_keys = tuple(self.extra_option_keys) + (("variant",) if self.variants else ())
        self.opts = DiffusersOptions.parse(self.options, engine=self.name,
                                           extra_keys=extra_keys)
        self.variant = str(self.opts.extra.get("variant", self.default_variant))
        if self.variants and self.variant not in self.variants:
            raise ConfigError(f"engine {self.name} options: variant must be one of "
                              f"{', '.join(self.variants)}, got {self.variant!r}")
        self.pipe: Any = None
        self.weights_path: Path | None = None
        self._adapters: list[tuple[str, float]] = []
        self._static_adapters: list[tuple[str, float]] = []

    # -- placement -------------------------------------------------------------------------

    @property
    def device(self) -> str:
        """Where the denoising runs: the option, or cuda when there is one, else cpu."""
        if self.opts.device != "auto":
            return self.opts.device
        torch = import_torch()
        return "cuda" if torch.cuda.is_available() else "cpu"

    @property
    def torch_dtype(self) -> Any:
        """The weights' dtype: the option, or bfloat16 on a GPU and float32 on the CPU."""
        torch = import_torch()
        name = self.opts.dtype
        if name == "auto":
            name = "float32" if self.device == "cpu" else "bfloat16"
        return getattr(torch, name)

    @property
    def steps(self) -> int:
        """Denoising steps per generation: the option, else the variant's or the engine's."""
        default = self.variants[self.variant][0] if self.variants else self.default_steps
        return int(self.opts.steps or default)

    @property
    def guidance(self) -> float:
        """Classifier-free guidance scale: the option, else the variant's or the engine's."""
        g = self.opts.guidance_scale
        default = self.variants[self.variant][1] if self.variants else self.default_guidance
        return float(default if g is None else g)

    @property
    def distilled(self) -> bool:
        """Whether the weights are distilled to run without guidance (Turbo, schnell): a
        request's ``guidance_scale`` would switch classifier-free guidance back on, doubling
        the cost and leaving the distilled regime."""
        return False

    def guidance_for(self, spec: VideoSpec | ImageSpec) -> float:
        """The guidance a request runs with: its own ``guidance_scale`` (Seedream sends one)
        unless the model is distilled, else the configured one. The ``request_guidance``
        option overrides the rule either way."""
        requested = getattr(spec, "guidance_scale", None)
        honoured = self.opts.request_guidance
        if honoured is None:
            honoured = not self.distilled
        return self.guidance if requested is None or not honoured else float(requested)

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Resolve the weights, build the pipeline, then quantise, load LoRAs, place it,
        pick the attention backend and compile, in that order."""
        self.weights_path = resolve_weights(self.opts.weights, model=self.opts.model or self.name,
                                            engine=self.name)
        cls = pipeline_class(self.pipeline_class_name)
        kwargs: dict[str, Any] = {"dtype": self.torch_dtype}
        kwargs.update(self.load_kwargs())
        if self.opts.quantize == "fp8":
            kwargs["quantization_config"] = fp8_quantization_config(self.denoiser_names(cls))
        self.pipe = cls.from_pretrained(str(self.weights_path), **kwargs)
        self.pipe.set_progress_bar_config(disable=True)
        if self.opts.flow_shift is not None:
            self._shift_scheduler(float(self.opts.flow_shift))
        self._load_loras()
        self._place()
        if self.opts.attention_backend:
            for denoiser in self.denoisers():
                denoiser.set_attention_backend(self.opts.attention_backend)
        if self.opts.compile:
            for denoiser in self.denoisers():
                if hasattr(denoiser, "compile_repeated_blocks") and \
                        getattr(denoiser, "_repeated_blocks", None):
                    denoiser.compile_repeated_blocks(fullgraph=True)
                else:
                    denoiser.compile(fullgraph=True)

    def _shift_scheduler(self, shift: float) -> None:
        """Replace the flow-matching scheduler's shift: UniPC and DPM++ call it
        ``flow_shift``, flow-match Euler ``shift``."""
        scheduler = self.pipe.scheduler
        key = "flow_shift" if "flow_shift" in scheduler.config else "shift"
        self.pipe.scheduler = type(scheduler).from_config(scheduler.config, **{key: shift})

    def load_kwargs(self) -> dict[str, Any]:
        """Extra ``from_pretrained`` arguments of a subclass (e.g. ``boundary_ratio``)."""
        return {}

    def denoiser_names(self, cls: Any = None) -> list[str]:
        """The pipeline components that denoise (``transformer``, ``transformer_2``, ``unet``)."""
        if self.pipe is not None:
            return [n for n in DENOISERS if getattr(self.pipe, n, None) is not None]
        return [n for n in DENOISERS if n in _expected_components(cls)]

    def denoisers(self) -> list[Any]:
        """The denoiser modules of the loaded pipeline."""
        return [getattr(self.pipe, n) for n in self.denoiser_names()]

    def _load_loras(self) -> None:
        """Load every configured LoRA as a named adapter (into both Wan2.2 experts for
        ``expert = "all"``); the static-camera LoRA is enabled only for ``camera_fixed``."""
        two_experts = getattr(self.pipe, "transformer_2", None) is not None
        loras = [(f"lora{n}", lora) for n, lora in enumerate(self.opts.loras)]
        if self.opts.static_camera_lora is not None:
            loras.append(("static_camera", self.opts.static_camera_lora))
        for name, lora in loras:
            path = Path(lora.path).expanduser()
            if not path.exists():
                raise WeightsMissing(f"model `{self.opts.model or self.name}` (engine "
                                     f"{self.name}): LoRA file {path} does not exist")
            targets = [(name, lora.expert == "low")]
            if lora.expert == "all" and two_experts:
                targets.append((f"{name}_2", True))
            for adapter, into_second in targets:
                kwargs: dict[str, Any] = {"adapter_name": adapter}
                if into_second:
                    kwargs["load_into_transformer_2"] = True
                self.pipe.load_lora_weights(str(path), **kwargs)
                entry = (adapter, lora.scale)
                if name == "static_camera":
                    self._static_adapters.append(entry)
                else:
                    self._adapters.append(entry)
        self._set_adapters(camera_fixed=False)

    def _set_adapters(self, *, camera_fixed: bool) -> None:
        """Enable the configured LoRAs, plus the static-camera one for ``camera_fixed``."""
        if not self._adapters and not self._static_adapters:
            return
        active = list(self._adapters)
        if camera_fixed:
            active += self._static_adapters
        if active:
            # set_adapters does not undo an earlier disable_lora: the layers stay disabled
            self.pipe.enable_lora()
            self.pipe.set_adapters([a for a, _ in active], [s for _, s in active])
        else:
            self.pipe.disable_lora()

    def _place(self) -> None:
        mode = self.opts.offload
        device = self.device
        if mode == "none":
            self.pipe.to(device)
        elif mode == "model":
            self.pipe.enable_model_cpu_offload(device=device)
        elif mode == "sequential":
            self.pipe.enable_sequential_cpu_offload(device=device)
        else:   # group: denoisers stream their blocks in, the rest lives on the device
            for name, component in self.pipe.components.items():
                if name in DENOISERS and component is not None:
                    component.enable_group_offload(onload_device=device,
                                                   offload_type="block_level",
                                                   num_blocks_per_group=1, use_stream=True)
                elif hasattr(component, "to") and component is not None:
                    component.to(device)

    # -- per task --------------------------------------------------------------------------

    def prompt_for(self, spec: VideoSpec | ImageSpec) -> str:
        """The prompt as the pipeline gets it: with the vendor's fixed-camera instruction
        appended for ``camera_fixed`` (and the static-camera LoRA switched on, when one is
        configured)."""
        prompt = spec.prompt.strip()
        camera_fixed = isinstance(spec, VideoSpec) and spec.camera_fixed
        self._set_adapters(camera_fixed=camera_fixed)
        if camera_fixed:
            prompt = f"{prompt} {CAMERA_FIXED_INSTRUCTION}".strip()
        return prompt

    def generator(self, seed: int) -> Any:
        """A ``torch.Generator`` seeded with ``seed``, on the CPU so that a seed gives the
        same noise on every device."""
        torch = import_torch()
        return torch.Generator(device="cpu").manual_seed(int(seed))

    def step_callback(self, progress: ProgressFn, cancelled: CancelledFn, total: int,
                      offset: int = 0) -> Callable[..., dict[str, Any]]:
        """A ``callback_on_step_end``: reports step ``offset + i + 1`` of ``total`` and, when
        the task was cancelled, interrupts the pipeline and raises ``Cancelled`` at once
        (no decode of a video nobody wants)."""

        def on_step_end(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict:
            progress(offset + step + 1, total)
            if cancelled():
                pipe._interrupt = True
                raise Cancelled()
            return kwargs

        return on_step_end


def _expected_components(cls: Any) -> set[str]:
    if cls is None:
        return set()
    try:
        import inspect

        return set(inspect.signature(cls.__init__).parameters)
    except (TypeError, ValueError):
        return set()


def fp8_quantization_config(denoisers: Sequence[str]) -> Any:
    """A diffusers ``PipelineQuantizationConfig`` putting the denoisers' weights in float8
    (torchao, dynamic float8 activations on Hopper and newer)."""
    diffusers = importlib.import_module("diffusers")
    try:
        from torchao.quantization import Float8DynamicActivationFloat8WeightConfig
    except ImportError as exc:
        raise ConfigError("quantize = \"fp8\" needs torchao: pip install "
                          "'framecast[diffusers]'") from exc
    quant = diffusers.TorchAoConfig(Float8DynamicActivationFloat8WeightConfig())
    return diffusers.PipelineQuantizationConfig(
        quant_mapping={name: quant for name in denoisers})


# -- sizes and frames -----------------------------------------------------------------------

def legal_size(width: int, height: int, multiple: int) -> tuple[int, int]:
    """The size a model can generate nearest ``width``×``height`` (multiples of ``multiple``).
    Every Seedance size is a multiple of 32, so for video this is the size itself."""
    def snap(v: int) -> int:
        return max(multiple, round(v / multiple) * multiple)
    return snap(width), snap(height)


def native_frame_count(spec: VideoSpec, native_fps: int, multiple: int) -> int:
    """Frames to generate natively for the spec's duration at ``native_fps``, of the form
    ``multiple·n + 1`` (4n+1 for Wan, 8n+1 for LTX)."""
    assert spec.frames_total is not None
    seconds = (spec.frames_total - 1) / spec.fps
    intervals = max(multiple, math.floor(seconds * native_fps / multiple + 0.5) * multiple)
    return intervals + 1


def to_uint8_frames(frames: Any) -> list[np.ndarray]:
    """A pipeline's video output (float array in [0, 1], (1,F,H,W,3) or (F,H,W,3) or
    channels-first; or PIL images) as a list of H×W×3 uint8 RGB frames."""
    if isinstance(frames, (list, tuple)) and frames and isinstance(frames[0], (list, tuple)):
        frames = frames[0]
    if isinstance(frames, (list, tuple)) and frames and isinstance(frames[0], Image.Image):
        return [np.asarray(f.convert("RGB"), dtype=np.uint8) for f in frames]
    array = frames.detach().float().cpu().numpy() if hasattr(frames, "detach") else \
        np.asarray(frames)
    if array.ndim == 5:
        array = array[0]
    if array.ndim != 4:
        raise ValueError(f"unexpected video output shape {array.shape}")
    if array.shape[-1] not in (1, 3) and array.shape[1] in (1, 3):
        array = np.moveaxis(array, 1, -1)     # (F,C,H,W) -> (F,H,W,C)
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return [np.ascontiguousarray(f) for f in array]


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """A frame cover-fitted to exactly width×height (unchanged when it already is)."""
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    return np.asarray(fit_cover(Image.fromarray(frame), width, height), dtype=np.uint8)


def retimed(frames: Sequence[np.ndarray], count: int) -> Iterator[np.ndarray]:
    """``count`` frames spanning the same time as ``frames``: output frame ``i`` sits at
    source position ``i·(n−1)/(count−1)``; in-betweens come from optical-flow morphs of the
    two source frames around them (the motion engine's ``FlowMorph``). Used to turn a
    model's native 16 fps into 24 fps, or a model's legal frame count into the exact one."""
    n = len(frames)
    if n == 0:
        raise ValueError("no frames to retime")
    if n == count:
        yield from frames
        return
    morph: tuple[int, FlowMorph] | None = None
    for i in range(count):
        position = 0.0 if count == 1 else i * (n - 1) / (count - 1)
        k = min(math.floor(position + 1e-9), n - 1)
        t = position - k
        if t < 1e-6 or k == n - 1:
            yield frames[k]
            continue
        if morph is None or morph[0] != k:
            morph = (k, FlowMorph(frames[k], frames[k + 1]))
        yield morph[1].frame(t)


def write_video(spec: VideoSpec, frames: Sequence[np.ndarray], work_dir: Path, *,
                audio: AudioTrack | None = None) -> list[OutputFileInfo]:
    """Encode ``frames`` (generated frames, any size) into ``video.mp4`` at exactly the
    spec's pixel size, frame count and fps (cover-fitted, then flow-retimed when the count
    differs), watermarked when asked, with ``audio`` as an AAC track; plus
    ``last_frame.png`` for ``return_last_frame``."""
    assert spec.width and spec.height and spec.frames_total
    width, height, total = spec.width, spec.height, spec.frames_total
    fitted = [fit_frame(f, width, height) for f in frames]
    path = work_dir / "video.mp4"
    last: np.ndarray | None = None
    with VideoWriter(path, width, height, spec.fps, watermark=spec.watermark,
                     audio=audio) as writer:
        for frame in retimed(fitted, total):
            writer.write(frame)
            last = frame
    assert last is not None and writer.frames == total
    files = [OutputFileInfo(name="video.mp4", path=path, content_type="video/mp4", width=width,
                            height=height, frames=total, fps=spec.fps, has_audio=audio is not None)]
    if spec.return_last_frame:
        last_path = work_dir / "last_frame.png"
        save_png(last, last_path, watermark=spec.watermark)
        files.append(OutputFileInfo(name="last_frame.png", path=last_path,
                                    content_type="image/png", width=width, height=height))
    return files


def write_image(spec: ImageSpec, image: Any, work_dir: Path) -> OutputFileInfo:
    """Save a generated image (PIL or array) as ``image.png`` at exactly the spec's size,
    watermarked when asked."""
    assert spec.width and spec.height
    if isinstance(image, Image.Image):
        array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    else:
        array = to_uint8_frames(np.asarray(image)[None] if np.asarray(image).ndim == 3
                                else image)[0]
    array = fit_frame(array, spec.width, spec.height)
    path = work_dir / "image.png"
    save_png(array, path, watermark=spec.watermark)
    return OutputFileInfo(name="image.png", path=path, content_type="image/png",
                          width=spec.width, height=spec.height)


def fitted_input(image: Image.Image, width: int, height: int) -> Image.Image:
    """An input image cover-fitted to the size the model generates at."""
    return fit_cover(image.convert("RGB"), width, height)


def fitted_keyframes(inputs: EngineInputs, width: int,
                     height: int) -> tuple[Image.Image | None, Image.Image | None]:
    """The first frame cover-fitted to width×height, and the last frame cropped to the first
    frame's aspect, then fitted the same way, so both frame the scene alike. ``None`` for a
    role the request did not send (no last frame without a first)."""
    firsts = inputs.by_role("first_frame")
    if not firsts:
        return None, None
    first = firsts[0]
    lasts = inputs.by_role("last_frame")
    last = fit_last_frame(lasts[0].convert("RGB"), first.size, width, height) if lasts else None
    return fitted_input(first, width, height), last


def resolved_video(spec: VideoSpec | ImageSpec, inputs: EngineInputs) -> VideoSpec:
    """The spec as a resolved ``VideoSpec`` or an ``InvalidInput`` naming what is missing."""
    if not isinstance(spec, VideoSpec):
        raise InvalidInput("this engine generates videos", param="model")
    if not (spec.width and spec.height and spec.frames_total and spec.seed is not None):
        raise InvalidInput("the video spec was not resolved before running", param="model")
    return spec


def resolved_image(spec: VideoSpec | ImageSpec) -> ImageSpec:
    """The spec as a resolved ``ImageSpec`` or an ``InvalidInput`` naming what is missing."""
    if not isinstance(spec, ImageSpec):
        raise InvalidInput("this engine generates images", param="model")
    if not (spec.width and spec.height and spec.seed is not None):
        raise InvalidInput("the image spec was not resolved before running", param="size")
    return spec
