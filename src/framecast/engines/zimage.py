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

from framecast.engines._text_to_image import TextToImageEngine


class ZImageEngine(TextToImageEngine):
    """Z-Image-Turbo: 9 steps, no guidance, sizes in multiples of 16."""

    name: ClassVar[str] = "zimage"
    pipeline_class_name: ClassVar[str] = "ZImagePipeline"
    default_steps: ClassVar[int] = 9
    default_guidance: ClassVar[float] = 0.0

    @property
    def distilled(self) -> bool:
        """Turbo is distilled to run without guidance."""
        return True
