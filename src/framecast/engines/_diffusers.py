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
    compile = true                # torch.compile of the repeated transformer blocks (falls
                                  # back to eager, for the child's life, on a compile error)
    compile_backend = "inductor"  # inductor | eager | aot_eager
    compile_dynamic = false       # torch.compile's dynamic (default: torch's own rule)
    compile_cache_dir = "/cache/inductor"  # persistent inductor cache (default:
                                  # $TORCHINDUCTOR_CACHE_DIR, else ~/.cache/framecast/inductor)
    warmup = ["480p"]             # with compile: sizes compiled at load, not in a request
    quantize = "fp8"              # torchao float8 weights of the denoiser(s), on the device
    fp8_granularity = "row"       # row | tensor: float8 scales per output row or per tensor
    vae_dtype = "float32"         # auto | bfloat16 | float16 | float32 (auto: float32 for Wan
                                  # with fp8, where it fits, else the pipeline's dtype)
    vae_tiling = false            # decode the VAE in tiles (less memory, seams possible)
    cancel_grace_s = 60           # how long a cancelled task may take to stop before a kill
    steps = 4                     # denoising steps (default: the engine's)
    guidance_scale = 1.0
    flow_shift = 5.0              # flow-matching schedulers (Wan): replaces the weights' shift;
                                  # or a table: { "480p" = 3.0, "720p" = 5.0, first_last = 16.0 }
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
import logging
import math
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from framecast.core.errors import ConfigError, InvalidInput
from framecast.core.spec import IMAGE_CONTENT_TYPES, ImageSpec, VideoSpec
from framecast.engines._gpu import (
    COMPILE_BACKENDS,
    FP8_GRANULARITIES,
    RECOMPILE_LIMIT,
    check_backend_name,
    compile_denoisers,
    fp8_quantization_config,
    is_compile_error,
    quantize_fp8,
    set_backend,
    uncompile,
    usable_backend,
    use_compile_cache,
)
from framecast.engines._retime import retimed_frames
from framecast.engines.base import (
    Cancelled,
    CancelledFn,
    Engine,
    EngineInputs,
    EngineOutputs,
    OutputFileInfo,
    ProgressFn,
    outputs_with_tail,
)
from framecast.engines.weights import WeightsMissing, resolve_weights
from framecast.media.images import fit_cover, fit_last_frame
from framecast.media.video import AudioTrack, VideoWriter, save_image, save_png

log = logging.getLogger(__name__)

DRAFT_HALVES_FROM = 10    # a draft halves schedules of this many steps or more

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
    compile_backend: str = "inductor"
    compile_dynamic: bool | None = None
    compile_cache_dir: str | None = None
    warmup: tuple[str, ...] | None = None
    quantize: str | None = None
    fp8_granularity: str = "row"
    vae_dtype: str = "auto"
    vae_tiling: bool = False
    steps: int | None = None
    guidance_scale: float | None = None
    guidance_scale_2: float | None = None
    request_guidance: bool | None = None
    flow_shift: float | dict[str, float] | None = None
    loras: tuple[LoraFile, ...] = ()
    static_camera_lora: LoraFile | None = None
    fuse_loras: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: dict[str, Any], *, engine: str, extra_keys: Sequence[str] = (),
              per_task_flow_shift: bool = False) -> DiffusersOptions:
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
        if options.get("warmup") is not None:
            warmup = options["warmup"]
            if isinstance(warmup, str) or not isinstance(warmup, (list, tuple)):
                raise ConfigError(f"{where}: warmup must be a list of sizes (\"480p\", "
                                  f"\"1024x1024\"), got {warmup!r}")
            values["warmup"] = tuple(str(w) for w in warmup)
        if options.get("static_camera_lora"):
            values["static_camera_lora"] = LoraFile.parse(options["static_camera_lora"],
                                                          where=f"{where} static_camera_lora")
        out = cls(**values, extra={k: options[k] for k in extra_keys if k in options})
        for name, value, allowed in (("dtype", out.dtype, DTYPES),
                                     ("vae_dtype", out.vae_dtype, DTYPES),
                                     ("offload", out.offload, OFFLOAD_MODES),
                                     ("fp8_granularity", out.fp8_granularity,
                                      FP8_GRANULARITIES),
                                     ("compile_backend", out.compile_backend, COMPILE_BACKENDS)):
            if value not in allowed:
                raise ConfigError(f"{where}: {name} must be one of {', '.join(allowed)}, "
                                  f"got {value!r}")
        if out.quantize is not None and out.quantize not in QUANTIZE_MODES:
            raise ConfigError(f"{where}: quantize must be one of {', '.join(QUANTIZE_MODES)}")
        if out.steps is not None and not 1 <= int(out.steps) <= 200:
            raise ConfigError(f"{where}: steps must be within 1..200")
        for key in ("compile", "vae_tiling", "fuse_loras"):
            if not isinstance(getattr(out, key), bool):
                raise ConfigError(f"{where}: {key} must be true or false")
        _check_flow_shift(out.flow_shift, where)
        if isinstance(out.flow_shift, dict) and not per_task_flow_shift:
            raise ConfigError(f"{where}: flow_shift is one number for this engine (a table by "
                              f"resolution and task is read by the Wan engines)")
        return out


FLOW_SHIFT_KEYS = ("480p", "720p", "1080p", "first_last", "default")


def _check_flow_shift(shift: Any, where: str) -> None:
    """A flow shift is a number above 0, or a table of them by resolution and task type."""
    def bad(value: Any) -> bool:
        return isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0

    if shift is None:
        return
    if isinstance(shift, dict):
        unknown = sorted(set(shift) - set(FLOW_SHIFT_KEYS))
        if unknown:
            raise ConfigError(f"{where}: flow_shift keys are {', '.join(FLOW_SHIFT_KEYS)}, got "
                              f"{', '.join(unknown)}")
        for key, value in shift.items():
            if bad(value):
                raise ConfigError(f"{where}: flow_shift.{key} must be a number above 0, got "
                                  f"{value!r}")
        return
    if bad(shift):
        raise ConfigError(f"{where}: flow_shift must be a number above 0 (or a table by "
                          f"resolution), got {shift!r}")


def pick_flow_shift(shift: float | dict[str, float] | None, *, resolution: str | None,
                    first_last: bool) -> float | None:
    """The flow shift for one task from a number or a table: ``first_last`` for a first +
    last frame task when the table has it, else the task's resolution, else ``default``."""
    if shift is None or not isinstance(shift, dict):
        return None if shift is None else float(shift)
    for key in (("first_last",) if first_last else ()) + (resolution or "", "default"):
        if key in shift:
            return float(shift[key])
    return None


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
    # the pipeline passes attention masks (LTX-2): backends without mask support are refused
    passes_attention_mask: ClassVar[bool] = False
    # decode the VAE in float32 when fp8 leaves the room (Wan, as diffusers' own example)
    float32_vae_with_fp8: ClassVar[bool] = False
    # the pipeline casts latents to the VAE's dtype, so the VAE may have its own (FLUX and
    # SDXL feed it the denoiser's dtype: a float32 VAE under bf16 weights fails there)
    vae_takes_own_dtype: ClassVar[bool] = True
    # a cancel is seen at a step's end and a VAE decode cannot be interrupted: give the child
    # a step plus a decode before the kill that costs a reload of 40-70 GB and a recompile
    cancel_grace_s: ClassVar[float] = 60.0
    # each slot's child gets its own GPU (worker/gpus.py)
    gpu: ClassVar[bool] = True
    # what ``warmup`` compiles at load when the options do not say (see ``warm_up``)
    default_warmup: ClassVar[tuple[str, ...]] = ()
    # run() calls ``scheduler_for``, so ``flow_shift`` may be a table by size and task (Wan)
    per_task_flow_shift: ClassVar[bool] = False
    # fewer steps than this need a distilled LoRA (Wan: 4 steps without one is a blur)
    min_steps_without_lora: ClassVar[int] = 1

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        extra_keys = tuple(self.extra_option_keys) + (("variant",) if self.variants else ())
        self.opts = DiffusersOptions.parse(self.options, engine=self.name,
                                           extra_keys=extra_keys,
                                           per_task_flow_shift=self.per_task_flow_shift)
        self.variant = str(self.opts.extra.get("variant", self.default_variant))
        if self.variants and self.variant not in self.variants:
            raise ConfigError(f"engine {self.name} options: variant must be one of "
                              f"{', '.join(self.variants)}, got {self.variant!r}")
        if self.opts.vae_dtype != "auto" and not self.vae_takes_own_dtype:
            raise ConfigError(f"engine {self.name} options: vae_dtype is not offered: this "
                              f"pipeline feeds the VAE in the weights' dtype (set dtype)")
        if self.opts.attention_backend:
            check_backend_name(self.opts.attention_backend, engine=self.name,
                               needs_mask=self.passes_attention_mask)
        self.pipe: Any = None
        self.weights_path: Path | None = None
        self._adapters: list[tuple[str, float]] = []
        self._static_adapters: list[tuple[str, float]] = []
        self._compiled = False
        self.runtime: dict[str, Any] = {}     # what the fast path ended up as, for task info

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

    def pipeline_name(self) -> str:
        """The diffusers pipeline class this engine loads (a variant may pick another)."""
        return self.pipeline_class_name

    def steps_for(self, spec: VideoSpec | ImageSpec) -> int:
        """The steps one request runs: a draft (``draft: true``, at 480p) runs half of a
        full schedule; a distilled one (under ``DRAFT_HALVES_FROM`` steps) is kept whole,
        since its few steps are trained as a set."""
        if getattr(spec, "draft", False) and self.steps >= DRAFT_HALVES_FROM:
            return (self.steps + 1) // 2
        return self.steps

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
        the cost and leaving the distilled regime. By default the ``distilled`` option, for
        engines that take one (Wan: a checkpoint with a step-distilled LoRA merged in)."""
        return self.opts.extra.get("distilled") is True

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

    def check_schedule(self) -> None:
        """Refuse options that would run and silently give a worse video: too few steps
        for weights that are not distilled, and a second expert's guidance that does nothing
        because classifier-free guidance is switched on by ``guidance_scale`` alone."""
        where = f"engine {self.name} options"
        if not isinstance(self.opts.extra.get("distilled", False), bool):
            raise ConfigError(f"{where}: distilled must be true or false")
        if self.steps < self.min_steps_without_lora and not self.opts.loras and \
                not self.distilled:
            raise ConfigError(f"{where}: steps = {self.steps} needs a step-distilled LoRA (e.g. "
                              f"LightX2V's 4-step one, in `loras`); these weights need at least "
                              f"{self.min_steps_without_lora} steps")
        second = self.opts.guidance_scale_2
        if second is not None and self.guidance <= 1.0 < float(second):
            raise ConfigError(f"{where}: guidance_scale_2 = {second} has no effect with "
                              f"guidance_scale = {self.guidance:g}: the pipeline runs "
                              f"classifier-free guidance only when guidance_scale > 1")

    @staticmethod
    def needs_room_for(options: dict[str, Any] | None) -> bool:
        """Whether an entry's options leave the memory of full bf16 weights free for large
        sizes: fp8 weights, or weights offloaded to the host."""
        opts = options or {}
        return opts.get("quantize") == "fp8" or opts.get("offload", "none") != "none"

    @property
    def vae_dtype(self) -> Any:
        """The VAE's dtype: the option; by default float32 where the engine wants a precise
        decode and fp8 leaves the memory for it (Wan), else the pipeline's dtype."""
        torch = import_torch()
        if self.opts.vae_dtype != "auto":
            return getattr(torch, self.opts.vae_dtype)
        if self.float32_vae_with_fp8 and self.opts.quantize == "fp8":
            return torch.float32
        return self.torch_dtype

    def component_dtypes(self, cls: Any = None) -> Any:
        """``from_pretrained``'s dtype: one dtype, or per component when the VAE (or an image
        encoder, which diffusers' own Wan example keeps in float32) differs."""
        torch = import_torch()
        default, vae = self.torch_dtype, self.vae_dtype
        dtypes: dict[str, Any] = {}
        if vae != default:
            dtypes["vae"] = vae
        if default in (torch.bfloat16, torch.float16) and \
                "image_encoder" in _expected_components(cls):
            dtypes["image_encoder"] = torch.float32
        return {"default": default, **dtypes} if dtypes else default

    def load(self) -> None:
        """Resolve the weights, pick a usable attention backend (before reading them), build
        the pipeline (fp8 quantised on the device), load LoRAs, place it, set the backend,
        compile and warm up, in that order."""
        self.weights_path = resolve_weights(self.opts.weights, model=self.opts.model or self.name,
                                            engine=self.name)
        cls = pipeline_class(self.pipeline_name())
        backend: str | None = None
        if self.opts.attention_backend:
            backend, why_not = usable_backend(self.opts.attention_backend)
            self.runtime["attention_backend"] = backend
            if why_not:
                self.runtime["attention_backend_fallback"] = why_not
        if self.opts.compile:
            use_compile_cache(self.opts.compile_cache_dir)
        kwargs: dict[str, Any] = {"dtype": self.component_dtypes(cls)}
        kwargs.update(self.load_kwargs())
        fp8 = self.opts.quantize == "fp8"
        # LoRAs merge into bf16 weights, which are quantised after: merging into float8
        # weights dequantises and requantises per adapter, and peft's float8 merge of several
        # adapters fails (peft/tuners/lora/torchao.py)
        quantize_after_fuse = fp8 and self.opts.fuse_loras and bool(self.opts.loras)
        if fp8 and not quantize_after_fuse:
            kwargs["quantization_config"] = fp8_quantization_config(
                self.denoiser_names(cls), granularity=self.opts.fp8_granularity)
            if self.opts.offload == "none" and self.device == "cuda":
                # quantise on the device as each weight lands: on the CPU it took ~3 min for
                # Wan2.2's two experts (0.16 Gparam/s). diffusers takes "cuda" here, not
                # "cuda:N" (pipeline_utils.SUPPORTED_DEVICE_MAP), so cuda:N quantises on the CPU
                kwargs["device_map"] = "cuda"
        if fp8:
            self.runtime["quantize"] = f"fp8 ({self.opts.fp8_granularity})"
        self.pipe = cls.from_pretrained(str(self.weights_path), **kwargs)
        self.pipe.set_progress_bar_config(disable=True)
        self._base_scheduler = self.pipe.scheduler
        self._shift: float | None = None
        if isinstance(self.opts.flow_shift, (int, float)):   # one shift for every task
            self._shift = float(self.opts.flow_shift)
            self._shift_scheduler(self._shift)
        if self.opts.vae_tiling:
            self.pipe.vae.enable_tiling()
        self._load_loras()
        if quantize_after_fuse:
            self._quantize_denoisers()
        if self.opts.static_camera_lora is not None:
            self._static_adapters = self._load_adapters(
                [("static_camera", self.opts.static_camera_lora)])
        self._set_adapters(camera_fixed=False)
        self._place()
        if backend:
            set_backend(self.denoisers(), backend)
        if self.opts.compile:
            compile_denoisers(self.denoisers(), backend=self.opts.compile_backend,
                              dynamic=self.opts.compile_dynamic, recompile_limit=RECOMPILE_LIMIT)
            self._compiled = True
            self.runtime["compile"] = self.opts.compile_backend
            self.warm_up()

    def warm_up(self) -> None:
        """Compile at load what requests would otherwise compile: one short generation per
        ``warmup`` size (option; default the engine's ``default_warmup``), with and without
        the static-camera LoRA when one is configured. Seconds are kept in ``runtime``."""
        sizes = self.opts.warmup if self.opts.warmup is not None else self.default_warmup
        if not sizes:
            return
        import tempfile
        import time

        started = time.monotonic()
        steps = replace(self.opts, steps=min(self.steps, 3))
        saved, self.opts = self.opts, steps
        try:
            for size in sizes:
                for camera_fixed in (False, True) if self._static_adapters else (False,):
                    spec, images = self.warmup_request(size, camera_fixed=camera_fixed)
                    with tempfile.TemporaryDirectory(prefix="framecast-warmup-") as work:
                        self.run(spec, EngineInputs(images=images, work_dir=Path(work)),
                                 lambda step, total: None, lambda: False)
        finally:
            self.opts = saved
        self.runtime["warmup_s"] = round(time.monotonic() - started, 1)
        self.runtime["warmup"] = list(sizes)

    def warmup_request(self, size: str, *, camera_fixed: bool) -> tuple[Any, list[Any]]:
        """A resolved request at ``size`` for ``warm_up``: a 5 s 16:9 video for a resolution
        name (with a first frame when the engine needs one), an image for ``WxH``."""
        from framecast.core import sizes as size_tables
        from framecast.core.spec import ImageInput
        from framecast.engines.base import InputImage

        if "x" in size:
            width, height = (int(v) for v in size.split("x"))
            return ImageSpec(model=self.name, prompt="warm-up", width=width, height=height,
                             seed=0), []
        width, height = size_tables.video_size("seedance-1.0", size, "16:9")
        needs_image = self.capabilities_for(self.options).requires_image
        frames = 5 * 24 + 1
        spec = VideoSpec(model=self.name, prompt="warm-up", resolution=size, ratio="16:9",
                         width=width, height=height, frames_total=frames, fps=24, seed=0,
                         camera_fixed=camera_fixed,
                         images=[ImageInput(role="first_frame", url="data:")] if needs_image
                         else [])
        picture = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        return spec, [InputImage(role="first_frame", image=picture)] if needs_image else []

    def call_pipe(self, seed: int, **kwargs: Any) -> Any:
        """Run the pipeline with a fresh generator seeded ``seed``. A torch.compile error (a
        recompile limit, an unsupported op) does not fail the task: the denoisers go back to
        eager for the rest of this child's life, the reason is noted, and the call is made
        again from the same seed, so the output is what an eager run gives."""
        try:
            return self.pipe(generator=self.generator(seed), **kwargs)
        except Exception as exc:
            if not (self._compiled and is_compile_error(exc)):
                raise
            log.warning("engine %s: torch.compile failed (%s: %s); running eager from now on",
                        self.name, type(exc).__name__, str(exc).splitlines()[0][:200])
            uncompile(self.denoisers())
            self._compiled = False
            self.runtime["compile"] = f"eager (compile failed: {type(exc).__name__})"
            return self.pipe(generator=self.generator(seed), **kwargs)

    def runtime_info(self) -> dict[str, Any]:
        """What the fast path is, for the task's info: the attention backend (and why not the
        configured one), fp8, compile or its eager fallback, warm-up seconds."""
        return dict(self.runtime)

    def scheduler_for(self, spec: VideoSpec | ImageSpec, *, first_last: bool = False) -> None:
        """Set the flow shift for this task: the ``flow_shift`` option (a number, or a table
        by resolution and task type), else the engine's default for it, else the weights'."""
        resolution = getattr(spec, "resolution", None)
        shift = pick_flow_shift(self.opts.flow_shift, resolution=resolution,
                                first_last=first_last)
        if shift is None:
            shift = pick_flow_shift(self.default_flow_shift(), resolution=resolution,
                                    first_last=first_last)
        if shift is None:
            self.pipe.scheduler = self._base_scheduler
        elif shift != self._shift or self.pipe.scheduler is self._base_scheduler:
            self._shift_scheduler(shift)
        self._shift = shift
        if shift is not None:
            self.runtime["flow_shift"] = shift
        else:
            self.runtime.pop("flow_shift", None)

    def default_flow_shift(self) -> float | dict[str, float] | None:
        """The engine's own flow shift by size and task (None: the weights' scheduler)."""
        return None

    def _shift_scheduler(self, shift: float) -> None:
        """Replace the flow-matching scheduler's shift (on a copy of the weights' scheduler):
        UniPC and DPM++ call it ``flow_shift``, flow-match Euler ``shift``."""
        scheduler = self._base_scheduler
        key = next((k for k in ("flow_shift", "shift") if k in scheduler.config), None)
        if key is None:
            raise ConfigError(f"engine {self.name} options: flow_shift applies to flow-matching "
                              f"schedulers, and {type(scheduler).__name__} has no shift")
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
        ``expert = "all"``) and, with ``fuse_loras``, merge them into the weights of every
        component they touch (denoisers, text encoders, LTX-2's connectors): no extra
        low-rank GEMMs per Linear per step, and fewer graphs to compile. The static-camera
        LoRA is loaded afterwards (``load``), as a switchable adapter enabled only for
        ``camera_fixed``: a merged peft layer would ignore an adapter switched on later."""
        self._adapters = self._load_adapters(
            [(f"lora{n}", lora) for n, lora in enumerate(self.opts.loras)])
        if not (self.opts.fuse_loras and self._adapters):
            return
        self._set_adapters(camera_fixed=False)          # the scales the merge uses
        components = [n for n in getattr(self.pipe, "_lora_loadable_modules", DENOISERS)
                      if getattr(self.pipe, n, None) is not None]
        self.pipe.fuse_lora(components=components, adapter_names=[a for a, _ in self._adapters])
        self.pipe.unload_lora_weights()    # peft's layers go; the merged weights stay
        self._adapters = []
        self.runtime["loras_fused"] = len(self.opts.loras)

    def _quantize_denoisers(self) -> None:
        """float8 weights for the denoisers after the LoRAs merged, one denoiser at a time on
        the device when nothing is offloaded (so the GPU never holds all of them in bf16)."""
        for denoiser in self.denoisers():
            if self.opts.offload == "none":
                denoiser.to(self.device)
            quantize_fp8(denoiser, granularity=self.opts.fp8_granularity)

    def _load_adapters(self, loras: list[tuple[str, LoraFile]]) -> list[tuple[str, float]]:
        """Load LoRA files as named adapters; ``(adapter, scale)`` for each one loaded."""
        two_experts = getattr(self.pipe, "transformer_2", None) is not None
        loaded: list[tuple[str, float]] = []
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
                loaded.append((adapter, lora.scale))
        return loaded

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
    channels-first; a torch tensor, ``output_type="pt"``'s (1,F,C,H,W) included; or PIL
    images) as a list of H×W×3 uint8 RGB frames."""
    if isinstance(frames, (list, tuple)) and frames and isinstance(frames[0], (list, tuple)):
        frames = frames[0]
    if isinstance(frames, (list, tuple)) and frames and isinstance(frames[0], Image.Image):
        return [np.asarray(f.convert("RGB"), dtype=np.uint8) for f in frames]
    array = _uint8_on_device(frames) if hasattr(frames, "detach") else np.asarray(frames)
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


def _uint8_on_device(video: Any) -> np.ndarray:
    """A torch video tensor ((1,F,C,H,W), (F,C,H,W) or channels-last) as a uint8 (F,H,W,C)
    array, scaled, rounded and clamped on the tensor's own device: on a GPU the host gets
    one byte a value (bf16 ``"np"`` output sent two, then took 0.5 s at 480p and 1.1 s at
    720p on a 2-core CPU to scale: the GPU review of issue 18, point 9). The same
    values as the numpy path: float32 ×255, round half to even, clamp. The float32 copy on
    the device is transient: 0.4 GB for 81 frames at 480p, 0.85 GB at 720p."""
    tensor = video.detach()
    if tensor.ndim == 5:
        tensor = tensor[0]
    if tensor.ndim != 4:
        raise ValueError(f"unexpected video output shape {tuple(tensor.shape)}")
    if tensor.shape[-1] not in (1, 3) and tensor.shape[1] in (1, 3):
        tensor = tensor.permute(0, 2, 3, 1)     # (F,C,H,W) -> (F,H,W,C), copied as bytes below
    if tensor.is_floating_point():
        tensor = (tensor.float() * 255.0).round_().clamp_(0, 255).byte()
    return tensor.contiguous().cpu().numpy()


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """A frame cover-fitted to exactly width×height (unchanged when it already is)."""
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    return np.asarray(fit_cover(Image.fromarray(frame), width, height), dtype=np.uint8)


def retimed(frames: Sequence[np.ndarray], count: int, *,
            workers: int | None = None) -> Generator[np.ndarray, None, None]:
    """``count`` frames spanning the same time as ``frames``: output frame ``i`` sits at
    source position ``i·(n−1)/(count−1)``; in-betweens come from optical-flow morphs of the
    two source frames around them (the motion engine's ``FlowMorph``), computed on
    ``workers`` threads (default: the CPUs, at most 8; the same frames whatever the number;
    ``_retime.py``). Used to turn a model's native 16 fps into 24 fps, or a model's legal
    frame count into the exact one. Close the iterator to stop its pool early."""
    return retimed_frames(frames, count, workers=workers)


def write_video(spec: VideoSpec, frames: Sequence[np.ndarray], work_dir: Path, *,
                audio: AudioTrack | None = None, retime_workers: int | None = None,
                cancelled: CancelledFn | None = None) -> list[OutputFileInfo]:
    """Encode ``frames`` (generated frames, any size) into ``video.mp4`` at exactly the
    spec's pixel size, frame count and fps (cover-fitted, then flow-retimed when the count
    differs, on ``retime_workers`` threads: see ``retimed``), watermarked when asked, with
    ``audio`` as an AAC track; plus ``last_frame.png`` for ``return_last_frame``. A
    ``cancelled`` check is made at every output frame (``Cancelled`` when it says so)."""
    assert spec.width and spec.height and spec.frames_total
    width, height, total = spec.width, spec.height, spec.frames_total
    fitted = [fit_frame(f, width, height) for f in frames]
    path = work_dir / "video.mp4"
    last: np.ndarray | None = None
    # closing: an encoder error stops the retiming pool now, not when the traceback is freed
    with VideoWriter(path, width, height, spec.fps, watermark=spec.watermark,
                     audio=audio) as writer, \
            closing(retimed(fitted, total, workers=retime_workers)) as output:
        for frame in output:
            if cancelled is not None and cancelled():
                raise Cancelled()
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


def video_outputs(spec: VideoSpec, frames: Sequence[np.ndarray], inputs: EngineInputs, *,
                  seed: int, info: dict[str, Any],
                  audio: AudioTrack | None = None) -> EngineOutputs:
    """A video engine's result: ``write_video`` of the generated frames into the work dir,
    deferred as the result's ``finish`` when the worker overlaps it with the next task
    (``inputs.defer_tail``; the GPU is free once the frames are on the host)."""
    return outputs_with_tail(
        inputs, lambda cancelled: write_video(spec, frames, inputs.work_dir, audio=audio,
                                              cancelled=cancelled),
        seed=seed, info=info)


def write_image(spec: ImageSpec, image: Any, work_dir: Path, *,
                index: int = 0) -> OutputFileInfo:
    """Save a generated image (PIL or array), the ``index``-th of the spec's set, at exactly
    the spec's size in its output format (``spec.output_names``), watermarked when asked."""
    assert spec.width and spec.height
    if isinstance(image, Image.Image):
        array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    else:
        array = to_uint8_frames(np.asarray(image)[None] if np.asarray(image).ndim == 3
                                else image)[0]
    array = fit_frame(array, spec.width, spec.height)
    name, fmt = spec.output_names[index], spec.output_format or "png"
    path = work_dir / name
    save_image(array, path, fmt=fmt, watermark=spec.watermark)
    return OutputFileInfo(name=name, path=path, content_type=IMAGE_CONTENT_TYPES[fmt],
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
