"""``zimage``: Z-Image-Turbo (Tongyi-MAI's 6B single-stream DiT) text-to-image, through
diffusers' ``ZImagePipeline``.

The Turbo checkpoint is distilled for 9 steps without classifier-free guidance; both are
options. Z-Image's guidance is ``pos + g·(pos − neg)``, so 0 means none, and any positive
value (a Seedream request may send 1–10) runs a second, empty-prompt forward per step,
doubling the cost::

    [[models]]
    id = "z-image-turbo"
    kind = "image"
    engine = "zimage"
    weights = "Tongyi-MAI/Z-Image-Turbo"
    default_size = "1024x1024"
    [models.options]
    steps = 9                   # default
    guidance_scale = 0.0        # default; a request's `guidance_scale` wins

Text-to-image only: a request with input images is refused before it is queued. The image
is generated at the nearest multiple of 16 pixels (the VAE's 8× times the 2×2 patches) and
cover-fitted to the exact requested size when that differs.
"""

from __future__ import annotations

from typing import ClassVar

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


class ZImageEngine(DiffusersEngine):
    """Z-Image-Turbo: 9 steps, no guidance, sizes in multiples of 16."""

    name: ClassVar[str] = "zimage"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"image"}),
                                                        needs_weights=True)
    pipeline_class_name: ClassVar[str] = "ZImagePipeline"
    default_steps: ClassVar[int] = 9
    default_guidance: ClassVar[float] = 0.0

    @property
    def distilled(self) -> bool:
        """Turbo is distilled to run without guidance."""
        return True

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Generate ``image.png`` of exactly the spec's size."""
        self.check_inputs(spec, inputs)
        image_spec = resolved_image(spec)
        assert image_spec.width and image_spec.height and image_spec.seed is not None

        # 1. Plan: the legal size nearest the request (latents are 2×2-patched after the VAE).
        width, height = legal_size(image_spec.width, image_spec.height,
                                   self.pipe.vae_scale_factor * 2)
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
            "engine": self.name, "steps": self.steps, "guidance_scale": guidance,
            "generated_size": f"{width}x{height}"})

