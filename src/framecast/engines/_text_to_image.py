"""The run every text-to-image diffusers engine shares (``zimage``, ``flux``, ``sdxl``).

Plan the legal size nearest the request, denoise with the engine's steps and the request's
guidance rule, report every step and stop at the first after a cancel, then write the PNG at
the exact requested size. An engine says only what differs: its size multiple
(``size_multiple``) and any extra pipeline arguments (``call_kwargs``).
"""

from __future__ import annotations

from typing import Any, ClassVar

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


class TextToImageEngine(DiffusersEngine):
    """A diffusers text-to-image engine: no input images, exact output size."""

    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"image"}),
                                                        needs_weights=True)
    default_warmup: ClassVar[tuple[str, ...]] = ("1024x1024",)

    @property
    def size_multiple(self) -> int:
        """Generated sizes are multiples of this: the VAE's factor times the 2×2 latent
        patches by default (16 for the DiT models)."""
        return int(self.pipe.vae_scale_factor * 2)

    def call_kwargs(self) -> dict[str, Any]:
        """Pipeline arguments of this engine beyond the shared ones."""
        return {}

    def reference_kwargs(self, inputs: EngineInputs, width: int,
                         height: int) -> dict[str, Any]:
        """Pipeline arguments for the request's reference images (an edit pipeline's
        ``image``); none here: a text-to-image engine's capabilities refuse them."""
        return {}

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Generate the spec's image (or each image of its set, seeds ``seed``, ``seed + 1``
        …) at exactly the spec's size, in its output format."""
        self.check_inputs(spec, inputs)
        image_spec = resolved_image(spec)
        assert image_spec.width and image_spec.height and image_spec.seed is not None

        # 1. Plan: the legal size nearest the request, and the guidance to run with.
        width, height = legal_size(image_spec.width, image_spec.height, self.size_multiple)
        guidance = self.guidance_for(image_spec)
        count = image_spec.count

        files = []
        for n in range(count):
            # 2. Denoise and decode, reporting every step (of every image) and stopping at
            # the first after a cancel.
            result = self.call_pipe(
                image_spec.seed + n, prompt=self.prompt_for(image_spec), width=width,
                height=height, num_inference_steps=self.steps, guidance_scale=guidance,
                output_type="pil",
                callback_on_step_end=self.step_callback(
                    progress, cancelled, self.steps * count, offset=n * self.steps),
                **self.call_kwargs(), **self.reference_kwargs(inputs, width, height))
            # 3. Write the image at the exact size, watermarked when asked.
            files.append(inputs.published(
                write_image(image_spec, result.images[0], inputs.work_dir, index=n)))
        info: dict[str, Any] = {"engine": self.name}
        if self.variant:
            info["variant"] = self.variant
        info.update(steps=self.steps, guidance_scale=guidance,
                    generated_size=f"{width}x{height}")
        info.update(self.runtime_info())
        return EngineOutputs(files=files, seed=image_spec.seed, info=info)
