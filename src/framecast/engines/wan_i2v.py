"""``wan_i2v``: Wan image-to-video (Alibaba, Apache-2.0) through diffusers'
``WanImageToVideoPipeline``: a first frame, optionally a last frame, and a prompt.

The ``variant`` option names the checkpoint's layout and picks the defaults:

=========  ========================================  ======  =========  ======  ==========
variant    checkpoint                                 steps   guidance   native  last frame
=========  ========================================  ======  =========  ======  ==========
a14b       Wan2.2-I2V-A14B (two 14B experts that      40      3.5        16 fps  yes
           switch at ``boundary_ratio``)
wan21      Wan2.1-FLF2V-14B-720P / Wan2.1-I2V-14B     50      5.0        16 fps  FLF2V only
           (one transformer + CLIP image encoder)
ti2v-5b    Wan2.2-TI2V-5B (``expand_timesteps``,      50      5.0        24 fps  no
           16× VAE, sizes in multiples of 32)
=========  ========================================  ======  =========  ======  ==========

::

    [[models]]
    id = "wan22-i2v"
    kind = "video"
    engine = "wan_i2v"
    weights = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
    [models.options]
    variant = "a14b"            # a14b | wan21 | ti2v-5b
    native_fps = 16             # default: the variant's
    boundary_ratio = 0.9        # a14b: where the low-noise expert takes over (default: weights')
    flow_shift = 5.0            # replaces the scheduler's flow shift (default: weights')
    guidance_scale_2 = 3.5      # a14b: the low-noise expert's guidance (default: guidance_scale)
    negative_prompt = "..."     # default: none
    distilled = false           # true: the weights have a step-distilled LoRA merged in, so
                                # fewer than 10 steps are allowed without one in `loras`

TI2V-5B ignores a last frame inside diffusers, so that variant does not declare the
``last_frame`` role and the service refuses one when the task is created. Wan2.1 I2V weights
(as opposed to FLF2V) have no positional embedding for a second CLIP image and cannot take a
last frame either: a task that sends one fails at run time, naming the parameter.

The exact output contract: the video is generated at the requested pixel size (every Seedance
size is a multiple of 32, so legal for every variant; another size is generated at the nearest
legal one and cover-fitted), natively at ``native_fps`` for the requested duration (4n+1
frames: 5 s at 16 fps is 81), then flow-retimed to exactly ``frames_total`` at the requested
fps. The first frame (and the last, cropped to the first frame's aspect first) goes in
cover-fitted to the generation size. ``camera_fixed`` appends the vendor's fixed-camera
instruction to the prompt (and enables a configured static-camera LoRA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from framecast.core.errors import ConfigError, InvalidInput
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.engines._diffusers import (
    DiffusersEngine,
    fitted_keyframes,
    legal_size,
    native_frame_count,
    resolved_video,
    to_uint8_frames,
    video_outputs,
)
from framecast.engines.base import (
    Cancelled,
    CancelledFn,
    Capabilities,
    EngineInputs,
    EngineOutputs,
    ProgressFn,
    check_capabilities,
    check_decoded_images,
)

# Wan's VAE compresses time 4× (causally): a clip has 4n+1 frames.
TEMPORAL_MULTIPLE = 4
_ROLES = frozenset({"first_frame", "last_frame"})


@dataclass(frozen=True)
class Variant:
    """A Wan checkpoint layout and its defaults."""

    steps: int
    guidance: float
    native_fps: int
    spatial_multiple: int        # the VAE's spatial factor times the 2×2 patch
    last_frame: bool             # takes ``last_image`` (diffusers ignores it for TI2V-5B)
    description: str


VARIANTS: dict[str, Variant] = {
    "a14b": Variant(40, 3.5, 16, 16, True, "Wan2.2-I2V-A14B (two experts)"),
    "wan21": Variant(50, 5.0, 16, 16, True, "Wan2.1 I2V / FLF2V (CLIP image encoder)"),
    "ti2v-5b": Variant(50, 5.0, 24, 32, False, "Wan2.2-TI2V-5B (expand_timesteps)"),
}
DEFAULT_VARIANT = "a14b"


def _variant_name(options: dict[str, Any] | None, engine: str) -> str:
    name = str((options or {}).get("variant", DEFAULT_VARIANT))
    if name not in VARIANTS:
        raise ConfigError(f"engine {engine} options: variant must be one of "
                          f"{', '.join(VARIANTS)}, got {name!r}")
    return name


# Wan was trained on 81-frame clips (5 s at 16 fps) at 480p and 720p; 1080p and longer clips
# are neither trained nor within an 80 GB GPU without fp8 (docs/gpu-engines.md, memory).
MAX_SECONDS = 5.0
# Wan2.1's own sampling shifts (its generate.py): 3.0 for I2V at 480p, 5.0 at 720p, 16 for
# the first-last-frame model.
WAN21_I2V_SHIFT = {"480p": 3.0, "720p": 5.0}
FLF2V_SHIFT = 16.0


def _capabilities(last_frame: bool, *, large: bool = True) -> Capabilities:
    return Capabilities(
        kinds=frozenset({"video"}),
        roles=_ROLES if last_frame else frozenset({"first_frame"}),
        requires_image=True,
        resolutions=frozenset({"480p", "720p"} if large else {"480p"}),
        fps=frozenset({24, 16}),
        needs_weights=True,
        max_seconds=MAX_SECONDS,
    )


def _positive(options: dict[str, Any], key: str, engine: str, *, integer: bool = False,
              upper: float | None = None) -> Any:
    """Option ``key`` as a number above 0 (and at most ``upper``), or None when absent."""
    value = options.get(key)
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0 or \
            (upper is not None and value > upper):
        what = "a whole number" if integer else "a number"
        bound = f" and at most {upper}" if upper is not None else ""
        raise ConfigError(f"engine {engine} options: {key} must be {what} above 0{bound}, "
                          f"got {value!r}")
    return value


class WanI2VEngine(DiffusersEngine):
    """Wan image-to-video: Wan2.2-I2V-A14B, Wan2.1 I2V / FLF2V-14B or Wan2.2-TI2V-5B."""

    name: ClassVar[str] = "wan_i2v"
    capabilities: ClassVar[Capabilities] = _capabilities(VARIANTS[DEFAULT_VARIANT].last_frame,
                                                         large=False)
    pipeline_class_name: ClassVar[str] = "WanImageToVideoPipeline"
    float32_vae_with_fp8: ClassVar[bool] = True
    default_warmup: ClassVar[tuple[str, ...]] = ("480p",)
    min_steps_without_lora: ClassVar[int] = 10
    per_task_flow_shift: ClassVar[bool] = True
    extra_option_keys: ClassVar[tuple[str, ...]] = (
        "variant", "native_fps", "boundary_ratio", "negative_prompt",
        "last_frame", "distilled")

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        extra = self.opts.extra
        self.variant = _variant_name(extra, self.name)
        self.defaults = VARIANTS[self.variant]
        self.native_fps = int(_positive(extra, "native_fps", self.name, integer=True)
                              or self.defaults.native_fps)
        self.boundary_ratio = _positive(extra, "boundary_ratio", self.name, upper=1.0)
        negative = extra.get("negative_prompt")
        self.negative_prompt = None if negative is None else str(negative)
        if self.variant != "a14b":
            for key, value in (("boundary_ratio", self.boundary_ratio),
                               ("guidance_scale_2", self.opts.guidance_scale_2)):
                if value is not None:
                    raise ConfigError(f"engine {self.name} options: {key} applies to the "
                                      f"two-expert variant a14b only (variant is "
                                      f"{self.variant})")
        self.check_schedule()

    @classmethod
    def capabilities_for(cls, options: dict[str, Any] | None = None) -> Capabilities:
        """First frame always; a last frame except with TI2V-5B, whose pipeline ignores it,
        and where the entry says ``last_frame = false`` (plain Wan2.1-I2V weights)."""
        allowed = bool((options or {}).get("last_frame", True))
        variant = _variant_name(options, cls.name)
        # A14B's two bf16 experts leave no room for 720p on 80 GB (78.5 GB at peak): 720p
        # needs fp8 weights or offload
        large = variant != "a14b" or cls.needs_room_for(options)
        return _capabilities(VARIANTS[variant].last_frame and allowed, large=large)

    # -- defaults --------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        """Denoising steps: the option, else the variant's (40 for A14B, 50 otherwise)."""
        return int(self.opts.steps or self.defaults.steps)

    @property
    def guidance(self) -> float:
        """Classifier-free guidance: the option, else the variant's (3.5 A14B, 5.0 others)."""
        g = self.opts.guidance_scale
        return self.defaults.guidance if g is None else float(g)

    @property
    def spatial_multiple(self) -> int:
        """Width and height must be multiples of this: the loaded VAE's spatial factor
        times the transformer's patch (16 for Wan2.1 / A14B, 32 for TI2V-5B)."""
        if self.pipe is None:
            return self.defaults.spatial_multiple
        transformer = self.pipe.transformer if self.pipe.transformer is not None \
            else self.pipe.transformer_2
        return int(self.pipe.vae_scale_factor_spatial * transformer.config.patch_size[1])

    @property
    def takes_last_frame(self) -> bool:
        """Whether the loaded weights can take a last frame: not TI2V-5B, and for Wan2.1
        only the FLF2V transformer (positional embeddings for two CLIP images)."""
        if not self.defaults.last_frame:
            return False
        if self.pipe is None or self.variant != "wan21":
            return True
        return getattr(self.pipe.transformer.config, "pos_embed_seq_len", None) is not None

    def default_flow_shift(self) -> float | dict[str, float] | None:
        """Wan2.1 as its authors sample it: 16 with the first-last-frame weights, else 3.0
        at 480p and 5.0 at 720p; the other variants keep their weights' scheduler."""
        if self.variant != "wan21":
            return None
        return FLF2V_SHIFT if self.takes_last_frame else dict(WAN21_I2V_SHIFT)

    # -- loading ---------------------------------------------------------------------------

    def load_kwargs(self) -> dict[str, Any]:
        """``boundary_ratio`` overrides the weights' own, when configured."""
        return {} if self.boundary_ratio is None else {"boundary_ratio": self.boundary_ratio}

    def load(self) -> None:
        """Load the pipeline (see ``DiffusersEngine.load``) and check that the weights have
        the variant's layout."""
        super().load()
        found = _layout_of(self.pipe)
        if found is not None and found != self.variant:
            raise ConfigError(f"model `{self.opts.model or self.name}` (engine {self.name}): "
                              f"the weights at {self.weights_path} are laid out like variant "
                              f"{found!r} ({VARIANTS[found].description}), but the options say "
                              f"variant = {self.variant!r}; set variant = \"{found}\"")

    # -- per task --------------------------------------------------------------------------

    def check_inputs(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs | None = None) -> None:
        """Refuse what this engine cannot do, in a user's words; cheap, no pixels touched."""
        check_capabilities(self.capabilities_for(self.options), spec, engine=self.name)
        assert isinstance(spec, VideoSpec)   # check_capabilities refused other kinds
        last = spec.last_frame
        if last is not None and spec.first_frame is None:
            raise InvalidInput("an image with role `last_frame` needs an image with role "
                               "`first_frame` (Wan starts from a first frame)", param=last.param)
        if last is not None and not self.takes_last_frame:
            raise InvalidInput(f"model `{spec.model}` (engine {self.name}) was given Wan2.1 "
                               f"I2V weights, which take no last frame (use Wan2.1-FLF2V-14B "
                               f"for first + last frame, or set `last_frame = false` in the "
                               f"model's options to refuse it at create time)", param=last.param)
        if spec.frames_total is not None and spec.frames_total < 2:
            raise InvalidInput(f"a video needs at least 2 frames, got {spec.frames_total}",
                               param="frames")
        if inputs is None:
            return
        check_decoded_images(spec, inputs)

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Generate ``video.mp4`` (and ``last_frame.png`` when asked) into the work dir."""
        self.check_inputs(spec, inputs)
        video = resolved_video(spec, inputs)
        steps = self.steps_for(video)   # half of a full schedule for a draft
        assert video.width and video.height and video.frames_total and video.seed is not None

        # 1. Plan: the legal size nearest the request, the native frame count for its duration.
        width, height = legal_size(video.width, video.height, self.spatial_multiple)
        frames = native_frame_count(video, self.native_fps, TEMPORAL_MULTIPLE)

        # 2. Fit the keyframes to the generation size (the last one framed like the first).
        first, last = fitted_keyframes(inputs, width, height)
        assert first is not None     # check_inputs: Wan starts from a first frame
        if cancelled():
            raise Cancelled()

        # 3. Denoise and decode, reporting every step and stopping at the first after a cancel.
        kwargs: dict[str, Any] = {}
        if self.opts.guidance_scale_2 is not None:
            kwargs["guidance_scale_2"] = float(self.opts.guidance_scale_2)
        self.scheduler_for(video, first_last=last is not None)
        result = self.call_pipe(
            video.seed, image=first, last_image=last, prompt=self.prompt_for(video),
            negative_prompt=self.negative_prompt, height=height, width=width,
            num_frames=frames, num_inference_steps=steps, guidance_scale=self.guidance,
            output_type="pt",
            callback_on_step_end=self.step_callback(progress, cancelled, steps),
            callback_on_step_end_tensor_inputs=["latents"], **kwargs)
        generated = to_uint8_frames(result.frames)
        if cancelled():
            raise Cancelled()

        # 4. Encode at the exact size, frame count and fps (fitted, flow-retimed when needed):
        # the CPU tail, which the worker overlaps with its next task's denoising.
        info: dict[str, Any] = {
            "engine": self.name, "variant": self.variant, "steps": steps,
            "guidance_scale": self.guidance, "native_fps": self.native_fps,
            "generated_frames": len(generated), "generated_size": f"{width}x{height}"}
        if len(generated) != video.frames_total:
            info["retimed"] = (f"{len(generated)} frames generated at {self.native_fps} fps, "
                               f"flow-retimed to {video.frames_total} at {video.fps} fps")
        if (width, height) != (video.width, video.height):
            info["fitted"] = (f"generated at {width}x{height}, cover-fitted to "
                              f"{video.width}x{video.height}")
        info.update(self.runtime_info())
        return video_outputs(video, generated, inputs, seed=video.seed, info=info)


def _layout_of(pipe: Any) -> str | None:
    """Which variant a loaded pipeline's components look like (None: none of them)."""
    if getattr(pipe.config, "expand_timesteps", False):
        return "ti2v-5b"
    if getattr(pipe, "transformer_2", None) is not None:
        return "a14b"
    if getattr(pipe, "image_encoder", None) is not None:
        return "wan21"
    return None
