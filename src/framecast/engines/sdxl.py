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
from framecast.engines._text_to_image import TextToImageEngine

TURBO_MAX_STEPS = 4
SIZE_MULTIPLE = 8      # StableDiffusionXLPipeline.check_inputs refuses anything else


class SDXLEngine(TextToImageEngine):
    """SDXL base (30 steps, guidance 5.0) or SDXL-Turbo (4 steps, no guidance)."""

    name: ClassVar[str] = "sdxl"
    vae_takes_own_dtype: ClassVar[bool] = False
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

    @property
    def size_multiple(self) -> int:
        """SDXL's pipeline takes multiples of 8."""
        return SIZE_MULTIPLE
