"""``flux``: FLUX.1 [dev] and [schnell] (Black Forest Labs, 12B) text-to-image, through
diffusers' ``FluxPipeline``.

The ``variant`` option picks the defaults: ``dev`` (guidance-distilled, 28 steps, guidance
3.5) or ``schnell`` (timestep-distilled, 4 steps, guidance 0 and a 256-token T5 prompt, as
it was trained). FLUX.1's guidance is an input of the transformer (dev's guidance embedding),
not classifier-free guidance, so it costs nothing extra; schnell has no such input and
ignores it::

    [[models]]
    id = "flux-dev"
    kind = "image"
    engine = "flux"
    weights = "black-forest-labs/FLUX.1-dev"
    [models.options]
    variant = "dev"             # dev | schnell
    steps = 28                  # default: 28 (dev), 4 (schnell)
    guidance_scale = 3.5        # default: 3.5 (dev), 0.0 (schnell); a request's wins

Text-to-image only: a request with input images is refused before it is queued. The image
is generated at the nearest multiple of 16 pixels (the VAE's 8× times the 2×2 latent
packing) and cover-fitted to the exact requested size when that differs.
"""

from __future__ import annotations

from typing import Any, ClassVar

from framecast.engines._text_to_image import TextToImageEngine

# T5 prompt tokens per variant (schnell was trained with 256)
MAX_SEQUENCE_LENGTH = {"dev": 512, "schnell": 256}


class FluxEngine(TextToImageEngine):
    """FLUX.1 dev (28 steps, guidance 3.5) or schnell (4 steps, no guidance)."""

    name: ClassVar[str] = "flux"
    vae_takes_own_dtype: ClassVar[bool] = False
    pipeline_class_name: ClassVar[str] = "FluxPipeline"
    variants: ClassVar[dict[str, tuple[int, float]]] = {"dev": (28, 3.5), "schnell": (4, 0.0)}
    default_variant: ClassVar[str] = "dev"

    @property
    def max_sequence_length(self) -> int:
        """T5 prompt tokens: 512 for dev, 256 for schnell."""
        return MAX_SEQUENCE_LENGTH[self.variant]

    @property
    def distilled(self) -> bool:
        """The schnell weights are distilled to run without guidance."""
        return self.variant == "schnell"

    def call_kwargs(self) -> dict[str, Any]:
        """The T5 prompt length of the variant."""
        return {"max_sequence_length": self.max_sequence_length}
