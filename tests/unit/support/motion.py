"""Running the motion engine as a worker would, and reading back what a client receives."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

from framecast.core.spec import ImageInput, VideoSpec
from framecast.engines.base import EngineInputs, InputImage
from framecast.engines.motion import MotionEngine


def run_motion(prompt: str, seed: int, images: list[tuple[str, Image.Image]], work: Path, *,
               size: tuple[int, int] = (864, 480), frames: int = 29,
               pixel_format: str = "yuv420p") -> tuple[list[np.ndarray], dict]:
    """Run the engine on a 480p spec of ``size``; (every frame decoded from the MP4 in
    ``pixel_format``, the task's info)."""
    width, height = size
    spec = VideoSpec(model="m", prompt=prompt, resolution="480p",
                     ratio="16:9" if width >= height else "9:16", width=width, height=height,
                     frames_total=frames, fps=24, seed=seed, frames=frames,
                     images=[ImageInput(role=role, url="data:") for role, _ in images])  # type: ignore[arg-type]
    work.mkdir(parents=True, exist_ok=True)
    inputs = EngineInputs(images=[InputImage(role=role, image=image)   # type: ignore[arg-type]
                                  for role, image in images], work_dir=work)
    out = MotionEngine().run(spec, inputs, lambda step, total: None, lambda: False)
    video = next(f.path for f in out.files if f.name == "video.mp4")
    with av.open(str(video)) as container:
        decoded = [f.to_ndarray(format=pixel_format) for f in container.decode(video=0)]
    assert len(decoded) == frames
    return decoded, out.info
