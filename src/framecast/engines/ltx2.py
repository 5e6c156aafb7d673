"""``ltx2``: LTX-2 / LTX-2.3 / LTX-2.5 through diffusers' ``LTX2ConditionPipeline``, video
with sound.

Keyframes go in as ``LTX2VideoCondition``s: the fitted first frame at index 0 and the fitted
last frame at index -1 (the pipeline appends it as keyframe tokens at the last frame). With no
image the model generates from the prompt alone. LTX-2 generates audio jointly with the
video; with ``generate_audio`` the vocoder's waveform becomes the MP4's AAC track, at the
vocoder's own sample rate (24 kHz for LTX-2.0/2.3, 48 kHz with the bandwidth-extending
vocoder), otherwise the file is silent.

The model runs at 24 fps, 8n+1 frames, at the output size snapped to a multiple of 32 (every
Seedance 1.0 size already is); a 16 fps request is generated at 24 fps and retimed, and
``write_video`` makes the output exactly the spec's size and frame count. A duration is
always 24·d+1 frames, so sound and picture line up exactly; a ``frames`` count that is not
8n+1 (29, 37, ...) is generated at the nearest 8n+1 and retimed while the soundtrack is not
(a pitch shift would be worse), so by the clip's end they differ by at most 4 frames (1/6 s).

Options (besides the shared ones in ``_diffusers``)::

    distilled = true            # a distilled checkpoint: 8 steps on its trained sigmas, no
                                # guidance (CFG, STG and modality guidance all off); else 30
                                # steps with guidance 3.0 and the pipeline's STG / modality
                                # guidance
    image_crf = 0               # H.264 CRF the keyframes are re-compressed with before
                                # encoding (default: what the checkpoint was trained with,
                                # 33 through LTX-2.3, 18 for LTX-2.5; 0 = none)
    negative_prompt = "..."     # replaces LTX-2's default negative prompt
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

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
    Cancelled,
    CancelledFn,
    Capabilities,
    EngineInputs,
    EngineOutputs,
    ProgressFn,
    check_capabilities,
    check_decoded_images,
)
from framecast.media.video import AudioTrack

NATIVE_FPS = 24
FRAME_MULTIPLE = 8            # frames are 8n+1 (the VAE's temporal stride)
SIZE_MULTIPLE = 32            # the VAE's spatial stride
DISTILLED_STEPS = 8
DISTILLED_GUIDANCE = 1.0
_ROLES = ("first_frame", "last_frame")
_CONDITION_MODULE = "diffusers.pipelines.ltx2.pipeline_ltx2_condition"
_UTILS_MODULE = "diffusers.pipelines.ltx2.utils"


class LTX2Engine(DiffusersEngine):
    """First/last keyframes or text to video, with joint audio, on LTX-2.x."""

    name: ClassVar[str] = "ltx2"
    pipeline_class_name: ClassVar[str] = "LTX2ConditionPipeline"
    default_steps: ClassVar[int] = 30
    default_guidance: ClassVar[float] = 3.0
    extra_option_keys: ClassVar[tuple[str, ...]] = ("distilled", "image_crf", "negative_prompt")
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"video"}),
        roles=frozenset(_ROLES),
        max_reference_images=0,
        requires_image=False,
        resolutions=frozenset({"480p", "720p", "1080p"}),
        fps=frozenset({24, 16}),
        audio=True,
        needs_weights=True,
    )
    # its cross-attention always gets a mask: flash / sage backends fail at the first step
    passes_attention_mask: ClassVar[bool] = True
    default_warmup: ClassVar[tuple[str, ...]] = ("480p",)

    @classmethod
    def capabilities_for(cls, options: dict[str, Any] | None = None) -> Capabilities:
        """1080p only with fp8 weights or offload: in bf16 the 19B transformer, Gemma 3 12B
        and a 1080p VAE decode need about 89 GB at peak."""
        if cls.needs_room_for(options):
            return cls.capabilities
        return replace(cls.capabilities, resolutions=frozenset({"480p", "720p"}))

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        where = f"engine {self.name} options"
        distilled = self.opts.extra.get("distilled", False)
        if not isinstance(distilled, bool):
            raise ConfigError(f"{where}: distilled must be true or false, got {distilled!r}")
        self._distilled: bool = distilled
        crf = self.opts.extra.get("image_crf")
        if crf is not None and (not isinstance(crf, int) or isinstance(crf, bool)
                                or not 0 <= crf <= 51):
            raise ConfigError(f"{where}: image_crf must be a whole number within 0..51, "
                              f"got {crf!r}")
        self.image_crf: int | None = crf
        self.negative_prompt: str | None = self.opts.extra.get("negative_prompt")
        if self.opts.vae_tiling:
            raise ConfigError(f"{where}: vae_tiling is not offered for LTX-2: its tiled decode "
                              f"failed on sizes the service makes (704 px high; 1088 came back "
                              f"1216) in the review's tests")

    @property
    def distilled(self) -> bool:
        """Whether the weights are a distilled checkpoint (the ``distilled`` option)."""
        return self._distilled

    @property
    def steps(self) -> int:
        """Denoising steps: the option, else 8 for a distilled checkpoint and 30 otherwise."""
        if self.opts.steps:
            return int(self.opts.steps)
        return DISTILLED_STEPS if self.distilled else self.default_steps

    @property
    def guidance(self) -> float:
        """Guidance scale: the option, else 1.0 (none) distilled and 3.0 otherwise."""
        if self.opts.guidance_scale is not None:
            return float(self.opts.guidance_scale)
        return DISTILLED_GUIDANCE if self.distilled else self.default_guidance

    def load(self) -> None:
        """Load the pipeline (see ``DiffusersEngine.load``), then LTX-2's default negative
        prompt unless the options give one."""
        super().load()
        if self.negative_prompt is None:
            self.negative_prompt = importlib.import_module(_UTILS_MODULE).DEFAULT_NEGATIVE_PROMPT

    def check_inputs(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs | None = None) -> None:
        """Refuse what this engine cannot do, in a user's words; cheap, no pixels touched."""
        check_capabilities(self.capabilities_for(self.options), spec, engine=self.name)
        if inputs is None:
            return
        check_decoded_images(spec, inputs)

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Generate ``video.mp4`` (with an AAC track for ``generate_audio``) and
        ``last_frame.png`` when asked, into the work dir."""
        self.check_inputs(spec, inputs)
        video = resolved_video(spec, inputs)
        steps = self.steps_for(video)   # half of a full schedule for a draft
        assert video.width and video.height and video.seed is not None

        # 1. Plan: the legal generation size and the 24 fps frame count for the duration.
        width, height = legal_size(video.width, video.height, SIZE_MULTIPLE)
        frames = native_frame_count(video, NATIVE_FPS, FRAME_MULTIPLE)

        # 2. Fit inputs: keyframes cover-fitted to the generation size, as conditions.
        mode, conditions = self.keyframe_conditions(inputs, width, height)

        # 3. Denoise video and audio together, reporting every step; cancel stops at once.
        if cancelled():
            raise Cancelled()
        result = self.call_pipe(
            video.seed, conditions=conditions or None, prompt=self.prompt_for(video),
            negative_prompt=self.negative_prompt, height=height, width=width,
            num_frames=frames, frame_rate=float(NATIVE_FPS),
            num_inference_steps=steps,
            callback_on_step_end=self.step_callback(progress, cancelled, steps),
            output_type="pt", **self.guidance_kwargs())

        # 4. Encode: exact size, frame count and fps, with the soundtrack when asked for; the
        # CPU tail, which the worker overlaps with its next task's denoising.
        audio = self.audio_track(result.audio) if video.generate_audio else None
        generated = to_uint8_frames(result.frames)
        info: dict[str, Any] = {
            "engine": self.name, "mode": mode, "steps": steps,
            "guidance_scale": self.guidance, "distilled": self.distilled,
            "generated": f"{width}x{height}", "native_frames": frames, "native_fps": NATIVE_FPS}
        if audio is not None:
            info["audio_sample_rate"] = audio.sample_rate
        info.update(self.runtime_info())
        return video_outputs(video, generated, inputs, seed=video.seed, info=info,
                             audio=audio)

    def keyframe_conditions(self, inputs: EngineInputs, width: int,
                            height: int) -> tuple[str, list[Any]]:
        """The mode (``first_last``, ``first_frame`` or ``text``) and the pipeline's
        ``LTX2VideoCondition``s: the first frame at index 0, the last at index -1."""
        first, last = fitted_keyframes(inputs, width, height)
        if first is None:
            return "text", []
        condition = importlib.import_module(_CONDITION_MODULE).LTX2VideoCondition
        conditions = [condition(frames=first, index=0, strength=1.0, crf=self.image_crf)]
        if last is not None:
            conditions.append(condition(frames=last, index=-1, strength=1.0,
                                        crf=self.image_crf))
        return ("first_last" if last is not None else "first_frame"), conditions

    def guidance_kwargs(self) -> dict[str, Any]:
        """Guidance arguments: the distilled recipe (its trained sigmas when it runs its 8
        steps, every guidance off unless asked for), else CFG at ``guidance`` with the
        pipeline's own STG, modality and audio guidance."""
        if not self.distilled:
            return {"guidance_scale": self.guidance}
        kwargs: dict[str, Any] = {
            "guidance_scale": self.guidance, "audio_guidance_scale": self.guidance,
            "stg_scale": 0.0, "audio_stg_scale": 0.0,
            "modality_scale": 1.0, "audio_modality_scale": 1.0}
        sigmas = importlib.import_module(_UTILS_MODULE).DISTILLED_SIGMA_VALUES
        if self.steps == len(sigmas):
            kwargs["sigmas"] = list(sigmas)
        return kwargs

    def audio_track(self, audio: Any) -> AudioTrack:
        """The pipeline's waveform (batch, channels, samples) as an ``AudioTrack`` at the
        vocoder's sample rate."""
        samples = audio[0] if getattr(audio, "ndim", 0) == 3 else audio
        if hasattr(samples, "detach"):
            samples = samples.detach().float().cpu().numpy()
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[None, :]
        rate = int(self.pipe.vocoder.config.output_sampling_rate)
        return AudioTrack(samples=samples, sample_rate=rate)
