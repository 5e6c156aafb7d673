"""``wan_vace``: Wan2.1-VACE (1.3B / 14B) through diffusers' ``WanVACEPipeline``.

VACE is the Wan model that takes reference images: Seedance's ``reference_image`` role (one to
four pictures of a subject, a style or a scene) goes straight into ``reference_images``. It
also conditions on keyframes through its video + mask input, which is how ``first_frame`` and
``last_frame`` are served: the conditioning video is the fitted first frame, mid-gray frames
(VACE's "nothing here"), and the fitted last frame when one is given; the mask is white (1 =
generate) except black (0 = keep) at those keyframes. With no image at all it is a
text-to-video model.

Generation runs at Wan's native 16 fps (``native_fps``) for the clip's duration, 4n+1 frames,
at the output size snapped to a multiple of 16 (every Seedance size already is), and
``write_video`` turns that into exactly the spec's frames at 24 fps by optical-flow retiming.

Options (besides the shared ones in ``_diffusers``)::

    native_fps = 16                 # the rate the model generates at
    flow_shift = 16.0               # replaces the scheduler's flow shift (default 16, as
                                    # Wan2.1's authors sample VACE; a number or a table by
                                    # resolution, see ``_diffusers``)
    negative_prompt = "..."         # replaces the Wan default below

Inputs: reference images are placed whole ("contained") on a white canvas of the generation
size, the way VACE was trained (the pipeline pads with white too); keyframes are
cover-fitted like every other engine's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from PIL import Image, ImageOps

from framecast.core.errors import ConfigError
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
    IMAGE_ROLES,
    Cancelled,
    CancelledFn,
    Capabilities,
    EngineInputs,
    EngineOutputs,
    ProgressFn,
    check_capabilities,
    check_decoded_images,
)

NATIVE_FPS = 16
FRAME_MULTIPLE = 4            # frames are 4n+1 (the VAE's temporal stride)
VACE_SHIFT = 16.0             # the flow shift Wan2.1's authors sample VACE with
SIZE_MULTIPLE = 16            # VAE stride 8 × transformer patch 2
GRAY = (128, 128, 128)        # 0 in the model's [-1, 1] pixels: "no content" for VACE
GENERATE, KEEP = (255, 255, 255), (0, 0, 0)     # mask colours
# The negative prompt of the Wan examples in diffusers (an English rendering of the official
# Chinese one).
NEGATIVE_PROMPT = ("Bright tones, overexposed, static, blurred details, subtitles, style, works, "
                   "paintings, images, static, overall gray, worst quality, low quality, JPEG "
                   "compression residue, ugly, incomplete, extra fingers, poorly drawn hands, "
                   "poorly drawn faces, deformed, disfigured, misshapen limbs, fused fingers, "
                   "still picture, messy background, three legs, many people in the background, "
                   "walking backwards")


class WanVaceEngine(DiffusersEngine):
    """Reference images, first/last keyframes or text to video with Wan2.1-VACE."""

    name: ClassVar[str] = "wan_vace"
    pipeline_class_name: ClassVar[str] = "WanVACEPipeline"
    default_steps: ClassVar[int] = 50
    default_guidance: ClassVar[float] = 5.0
    extra_option_keys: ClassVar[tuple[str, ...]] = ("native_fps", "negative_prompt", "distilled")
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"video"}),
        roles=frozenset(IMAGE_ROLES),
        max_reference_images=4,
        requires_image=False,          # VACE does text-to-video as well
        resolutions=frozenset({"480p", "720p"}),    # what Wan2.1 was trained at
        fps=frozenset({24, 16}),
        audio=False,
        needs_weights=True,
        max_seconds=5.0,                            # 81 frames at 16 fps, as trained
    )
    float32_vae_with_fp8: ClassVar[bool] = True
    default_warmup: ClassVar[tuple[str, ...]] = ("480p",)
    min_steps_without_lora: ClassVar[int] = 10
    per_task_flow_shift: ClassVar[bool] = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        native_fps = self.opts.extra.get("native_fps", NATIVE_FPS)
        if not isinstance(native_fps, int) or isinstance(native_fps, bool) or \
                not 1 <= native_fps <= 60:
            raise ConfigError(f"engine {self.name} options: native_fps must be a whole number "
                              f"of frames per second within 1..60, got {native_fps!r}")
        self.native_fps: int = native_fps
        self.negative_prompt = str(self.opts.extra.get("negative_prompt", NEGATIVE_PROMPT))
        self.check_schedule()

    def default_flow_shift(self) -> float:
        """16, the shift Wan2.1's authors sample VACE with (their generate.py)."""
        return VACE_SHIFT

    def load(self) -> None:
        """Load the pipeline (see ``DiffusersEngine.load``); ``guidance_scale_2`` needs
        two-expert weights."""
        super().load()
        if self.opts.guidance_scale_2 is not None and self.pipe.config.boundary_ratio is None:
            raise ConfigError(f"model `{self.opts.model or self.name}` (engine {self.name}): "
                              f"guidance_scale_2 applies to two-expert weights, and "
                              f"{self.weights_path} has one transformer")

    def check_inputs(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs | None = None) -> None:
        """Refuse what this engine cannot do, in a user's words; cheap, no pixels touched."""
        check_capabilities(self.capabilities_for(self.options), spec, engine=self.name)
        if inputs is None:
            return
        check_decoded_images(spec, inputs)

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Generate ``video.mp4`` (and ``last_frame.png`` when asked) into the work dir."""
        self.check_inputs(spec, inputs)
        video = resolved_video(spec, inputs)
        steps = self.steps_for(video)   # half of a full schedule for a draft
        assert video.width and video.height and video.seed is not None

        # 1. Plan: the legal generation size and the native frame count for the duration.
        width, height = legal_size(video.width, video.height, SIZE_MULTIPLE)
        frames = native_frame_count(video, self.native_fps, FRAME_MULTIPLE)

        # 2. Fit inputs: references on a white canvas, keyframes into the video + mask.
        mode, conditioning = vace_conditioning(inputs, width, height, frames)

        # 3. Denoise, reporting every step and stopping at once on cancel.
        if cancelled():
            raise Cancelled()
        extra: dict[str, Any] = {}
        if self.opts.guidance_scale_2 is not None:
            extra["guidance_scale_2"] = float(self.opts.guidance_scale_2)
        self.scheduler_for(video, first_last=mode == "first_last")
        result = self.call_pipe(
            video.seed, prompt=self.prompt_for(video), negative_prompt=self.negative_prompt,
            height=height, width=width, num_frames=frames,
            num_inference_steps=steps, guidance_scale=self.guidance,
            callback_on_step_end=self.step_callback(progress, cancelled, steps),
            output_type="pt", **conditioning, **extra)

        # 4. Encode: exact size, frame count and fps (flow-retimed from the native rate); the
        # CPU tail, which the worker overlaps with its next task's denoising.
        generated = to_uint8_frames(result.frames)
        info: dict[str, Any] = {
            "engine": self.name, "mode": mode, "steps": steps,
            "guidance_scale": self.guidance, "generated": f"{width}x{height}",
            "native_frames": frames, "native_fps": self.native_fps}
        if mode == "text":
            info["note"] = "no input image: Wan2.1-VACE generated the clip from the prompt alone"
        if video.generate_audio:
            info["audio"] = "not generated: Wan2.1-VACE makes silent videos"
        info.update(self.runtime_info())
        return video_outputs(video, generated, inputs, seed=video.seed, info=info)


def vace_conditioning(inputs: EngineInputs, width: int, height: int,
                      frames: int) -> tuple[str, dict[str, Any]]:
    """The mode (``references``, ``first_last``, ``first_frame`` or ``text``) and the
    pipeline arguments that carry the inputs at the generation size."""
    references = inputs.by_role("reference_image")
    first, last = fitted_keyframes(inputs, width, height)
    conditioning: dict[str, Any] = {}
    if references:
        conditioning["reference_images"] = [reference_canvas(r, width, height)
                                            for r in references]
    if first is None:
        return ("references" if references else "text"), conditioning
    keyframes: dict[int, Image.Image] = {0: first}
    if last is not None:
        keyframes[frames - 1] = last
    gray = Image.new("RGB", (width, height), GRAY)
    generate = Image.new("RGB", (width, height), GENERATE)
    keep = Image.new("RGB", (width, height), KEEP)
    conditioning["video"] = [keyframes.get(i, gray) for i in range(frames)]
    conditioning["mask"] = [keep if i in keyframes else generate for i in range(frames)]
    return ("first_last" if last is not None else "first_frame"), conditioning


def reference_canvas(image: Image.Image, width: int, height: int) -> Image.Image:
    """A reference image whole, centred on a white width×height canvas."""
    return ImageOps.pad(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS,
                        color=(255, 255, 255))
