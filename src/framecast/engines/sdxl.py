"""``sdxl``: Stable Diffusion XL and SDXL-Turbo (Stability AI) text-to-image, through
diffusers' ``StableDiffusionXLPipeline``.

The ``variant`` option picks the defaults: ``base`` (30 steps, classifier-free guidance 5.0)
or ``turbo`` (adversarially distilled: 1–4 steps, default 4, guidance 0, and the scheduler's
timesteps spaced ``trailing`` so that a few steps start from pure noise). Guidance above 1
runs a second, empty-prompt UNet pass per step, doubling the cost::

    [[models]]
    id = "sdxl-turbo"
    kind = "image"
    engine = "sdxl"
    weights = "stabilityai/sdxl-turbo"
    default_size = "512x512"      # what Turbo was trained at
    [models.options]
    variant = "turbo"             # base | turbo
    steps = 4                     # default: 30 (base), 4 (turbo, at most 4)
    guidance_scale = 0.0          # default: 5.0 (base), 0.0 (turbo); a request's wins

Text-to-image only: a request with input images is refused before it is queued. The image
is generated at the nearest multiple of 8 pixels (the pipeline's rule) and cover-fitted to
the exact requested size when that differs.
"""

from __future__ import annotations

from typing import Any, ClassVar

from framecast.core.errors import ConfigError
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.engines._diffusers import (
    DiffusersEngine,
    legal_size,
    resolved_image,
    write_image,
)
from framecast.engines.base import (
    CancelledFn,
    Capabilities,
    EngineInputs,
    EngineOutputs,
    ProgressFn,
)

TURBO_MAX_STEPS = 4
SIZE_MULTIPLE = 8      # StableDiffusionXLPipeline.check_inputs refuses anything else


class SDXLEngine(DiffusersEngine):
    """SDXL base (30 steps, guidance 5.0) or SDXL-Turbo (4 steps, no guidance)."""

    name: ClassVar[str] = "sdxl"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"image"}),
                                                        needs_weights=True)
    pipeline_class_name: ClassVar[str] = "StableDiffusionXLPipeline"
    variants: ClassVar[dict[str, tuple[int, float]]] = {"base": (30, 5.0), "turbo": (4, 0.0)}
    default_variant: ClassVar[str] = "base"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        if self.variant == "turbo" and self.steps > TURBO_MAX_STEPS:
            raise ConfigError(f"engine {self.name} options: variant turbo takes 1 to "
                              f"{TURBO_MAX_STEPS} steps, got {self.steps}")

    @property
    def distilled(self) -> bool:
        """The turbo weights are distilled to run without guidance."""
        return self.variant == "turbo"

    def load(self) -> None:
        """Load the pipeline; for Turbo, space the scheduler's timesteps ``trailing``."""
        super().load()
        if self.variant == "turbo":
            scheduler = self.pipe.scheduler
            self.pipe.scheduler = type(scheduler).from_config(scheduler.config,
                                                              timestep_spacing="trailing")

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Generate ``image.png`` of exactly the spec's size."""
        self.check_inputs(spec, inputs)
        image_spec = resolved_image(spec)
        assert image_spec.width and image_spec.height and image_spec.seed is not None

        # 1. Plan: the legal size nearest the request.
        width, height = legal_size(image_spec.width, image_spec.height, SIZE_MULTIPLE)
        guidance = self.guidance_for(image_spec)

        # 2. Denoise and decode, reporting every step and stopping at the first after a cancel.
        result = self.pipe(
            prompt=self.prompt_for(image_spec), width=width, height=height,
            num_inference_steps=self.steps, guidance_scale=guidance,
            generator=self.generator(image_spec.seed), output_type="pil",
            callback_on_step_end=self.step_callback(progress, cancelled, self.steps))

        # 3. Write the PNG at the exact size, watermarked when asked.
        file = write_image(image_spec, result.images[0], inputs.work_dir)
        return EngineOutputs(files=[file], seed=image_spec.seed, info={
            "engine": self.name, "variant": self.variant, "steps": self.steps,
            "guidance_scale": guidance, "generated_size": f"{width}x{height}"})
