"""``flux``: FLUX.1 [dev] and [schnell] (Black Forest Labs, 12B) text-to-image, through
diffusers' ``FluxPipeline``, and FLUX.1 Kontext [dev], which edits a reference image, through
``FluxKontextPipeline``.

The ``variant`` option picks the defaults: ``dev`` (guidance-distilled, 28 steps, guidance
3.5), ``schnell`` (timestep-distilled, 4 steps, guidance 0 and a 256-token T5 prompt, as
it was trained) or ``kontext`` (28 steps, guidance 2.5, one reference image: a Seedream
``image``). FLUX.1's guidance is an input of the transformer (dev's guidance embedding),
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

``dev`` and ``schnell`` are text-to-image only: a request with input images is refused
before it is queued. ``kontext`` takes one reference image (more are refused, naming the
second), cover-fitted to the generation size and given to the pipeline as its ``image``
(the pipeline's own resize to its preferred sizes is off, so the edit keeps the requested
frame); without one it generates from the prompt. The image is generated at the nearest
multiple of 16 pixels (the VAE's 8× times the 2×2 latent packing) and cover-fitted to the
exact requested size when that differs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from framecast.engines._diffusers import fitted_input
from framecast.engines._text_to_image import TextToImageEngine
from framecast.engines.base import Capabilities, EngineInputs

# T5 prompt tokens per variant (schnell was trained with 256)
MAX_SEQUENCE_LENGTH = {"dev": 512, "schnell": 256, "kontext": 512}
EDIT_VARIANTS = frozenset({"kontext"})     # take a reference image (an edit pipeline)


class FluxEngine(TextToImageEngine):
    """FLUX.1 dev (28 steps, guidance 3.5) or schnell (4 steps, no guidance)."""

    name: ClassVar[str] = "flux"
    vae_takes_own_dtype: ClassVar[bool] = False
    pipeline_class_name: ClassVar[str] = "FluxPipeline"
    variants: ClassVar[dict[str, tuple[int, float]]] = {
        "dev": (28, 3.5), "schnell": (4, 0.0), "kontext": (28, 2.5)}
    default_variant: ClassVar[str] = "dev"

    @classmethod
    def capabilities_for(cls, options: dict[str, Any] | None = None) -> Capabilities:
        """Kontext takes one reference image; dev and schnell none."""
        if str((options or {}).get("variant", cls.default_variant)) in EDIT_VARIANTS:
            return replace(cls.capabilities, roles=frozenset({"reference_image"}),
                           max_reference_images=1)
        return cls.capabilities

    def pipeline_name(self) -> str:
        """``FluxKontextPipeline`` for Kontext, ``FluxPipeline`` otherwise."""
        return "FluxKontextPipeline" if self.variant in EDIT_VARIANTS else "FluxPipeline"

    def reference_kwargs(self, inputs: EngineInputs, width: int,
                         height: int) -> dict[str, Any]:
        """Kontext's ``image``: the reference, cover-fitted to the generation size (the
        pipeline's resize to its preferred sizes off, so the edit keeps the frame asked)."""
        references = inputs.by_role("reference_image")
        if self.variant not in EDIT_VARIANTS or not references:
            return {}
        return {"image": fitted_input(references[0], width, height), "_auto_resize": False}

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
