"""``motion``: a camera and keyframe animator on the CPU, with no weights.

It is not a generative model: it never invents content. It moves a camera over the images it
was given and morphs between keyframes by optical flow. Four modes, by the inputs:

* first frame only: the camera path plays over the fitted first frame; frame 0 is that image.
* first + last frame: the clip morphs from one to the other by dense optical flow (see
  ``_flow``); frame 0 is the fitted first frame and the last frame is the fitted last frame.
  The keyframes define the motion, so no camera move is added in this mode (a move would
  have to leave both ends untouched); camera words are reported as not applied.
* 1–4 reference images: each holds for an equal share of the clip, consecutive ones joined
  by short flow morphs, with the camera path over the whole sequence.
* no image (text-to-video): a seeded Framecast test card carrying the prompt is animated.

Camera moves come from the prompt (vocabulary and direction conventions in ``_camera``: "pan
left" turns the camera left, so content moves right), play in prompt order, eased in and
out. ``camera_fixed`` or "static"/"locked-off" words mean no global motion; a prompt that
names no move gets a gentle move picked by the seed. The same spec gives the same bytes.

Speed: every frame is one warp (plus two remaps and a blend inside a morph); flows are
computed once per keyframe pair at reduced resolution; canvases are RGBA because OpenCV
warps four channels about twice as fast as three; and frames are rendered two ahead in a
worker thread, so rendering overlaps encoding on a second core.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
from PIL import Image

from framecast.core import sizes
from framecast.core.errors import InvalidInput
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.engines._camera import CameraPath, parse_camera_moves, plan_camera_moves
from framecast.engines._flow import FlowMorph
from framecast.engines.base import (
    IMAGE_ROLES,
    Cancelled,
    CancelledFn,
    Capabilities,
    Engine,
    EngineInputs,
    EngineOutputs,
    InputMedia,
    OutputFileInfo,
    ProgressFn,
    check_capabilities,
    check_decoded_images,
)
from framecast.engines.testcard import render_card
from framecast.media.clips import (
    last_video_frame,
    soundtrack,
    video_frames_at,
    video_keyframes,
)
from framecast.media.images import fit_cover, fit_cover_with_margins, fit_last_frame
from framecast.media.video import AudioTrack, VideoWriter, save_png

VIDEO_KEYFRAMES = 4   # frames of each reference video that become keyframes, evenly spaced
# A morph between two reference images lasts this long (shorter if the segments are short).
REFERENCE_TRANSITION_S = 0.75
# Frames rendered ahead of the encoder: enough to keep both busy, little memory at 1080p.
RENDER_AHEAD_FRAMES = 2
T2V_NOTE = "Placeholder video from the motion engine: a camera over this card, no model."


@dataclass(frozen=True)
class Timeline:
    """Which keyframe each frame shows, and where flow morphs join consecutive keyframes.

    ``starts[k]`` is the frame position where the morph from keyframe ``k`` to ``k + 1``
    begins and ``lengths[k]`` how many frames it takes. ``eased`` morphs start and end
    slowly (reference sequences); a first→last morph runs at an even pace.
    """

    frames: int
    starts: tuple[float, ...] = ()
    lengths: tuple[float, ...] = ()
    eased: bool = True

    @classmethod
    def first_to_last(cls, frames: int) -> Timeline:
        """One morph over the whole clip: frame 0 is the first keyframe, the last the last."""
        return cls(frames, (0.0,), (float(max(frames - 1, 1)),), eased=False)

    @classmethod
    def sequence(cls, keyframes: int, frames: int, fps: int) -> Timeline:
        """Equal holds per keyframe, each boundary crossed by a short eased morph."""
        if keyframes <= 1:
            return cls(frames)
        segment = frames / keyframes
        length = max(2.0, min(REFERENCE_TRANSITION_S * fps, segment / 2))
        starts = tuple(k * segment - length / 2 for k in range(1, keyframes))
        return cls(frames, starts, tuple(length for _ in starts))

    def at(self, index: int) -> tuple[int, float]:
        """``(k, t)``: frame ``index`` shows keyframe ``k`` morphed a fraction ``t`` towards
        keyframe ``k + 1`` (``t == 0`` is keyframe ``k`` itself)."""
        for k, (start, length) in enumerate(zip(self.starts, self.lengths, strict=True)):
            if index < start:
                return k, 0.0
            if index < start + length:
                t = (index - start) / length
                return k, (t * t * (3 - 2 * t)) if self.eased else t
        return len(self.starts), 0.0


@dataclass
class MotionPlan:
    """Everything needed to render a clip: keyframes (RGBA, output size), the timeline
    joining them and the camera path over it."""

    mode: str
    keyframes: list[np.ndarray]
    timeline: Timeline
    camera: CameraPath
    info: dict[str, Any]

    @classmethod
    def of(cls, mode: str, keyframes_rgb: list[np.ndarray], timeline: Timeline,
           camera: CameraPath, camera_info: dict[str, Any]) -> MotionPlan:
        """Assemble a plan; keyframes become RGBA, which OpenCV warps fastest."""
        keyframes = [cv2.cvtColor(k, cv2.COLOR_RGB2RGBA) for k in keyframes_rgb]
        info = {"mode": mode, **camera_info, "flow_transitions": len(timeline.starts)}
        return cls(mode, keyframes, timeline, camera, info)

    @property
    def frames(self) -> int:
        """Frames in the clip."""
        return self.timeline.frames


# A pull back (zoom out, dolly out) shows more than the frame it starts from: from the first
# frame, the clip's promised start, that picture does not exist, so these moves are not played
# from one; they are reported in ``camera_not_applied``. (Text-to-video has no such start: the
# move plays there.)
NEEDS_OUTSIDE = frozenset({"pull_back", "zoom_out", "dolly_out"})
NEEDS_OUTSIDE_REASON = ("a pull back or zoom out needs picture from outside the first frame, "
                        "and the clip starts on that frame exactly")


def plan_camera(spec: VideoSpec, mode: str, *,
                margins: tuple[int, int] = (0, 0)) -> tuple[CameraPath, dict[str, Any]]:
    """The camera path for a resolved spec, and what to report about it. ``margins`` is the
    source picture the cover fit cut off, in output pixels per side (first-frame mode)."""
    assert spec.width and spec.height and spec.frames_total and spec.seed is not None
    info: dict[str, Any] = {}
    if mode == "first_last":
        moves, source = [], "keyframes"
        unused = [m.name for m in parse_camera_moves(spec.prompt)]
        if unused:
            info["camera_not_applied"] = unused
    else:
        moves, source = plan_camera_moves(spec.prompt, camera_fixed=spec.camera_fixed,
                                          seed=spec.seed)
        if mode == "first_frame":   # the clip starts on the image: nothing from outside it
            dropped = [m.name for m in moves if m.name in NEEDS_OUTSIDE]
            if dropped:
                moves = [m for m in moves if m.name not in NEEDS_OUTSIDE]
                info["camera_not_applied"] = dropped
                info["camera_not_applied_reason"] = NEEDS_OUTSIDE_REASON
    camera = CameraPath(moves, spec.width, spec.height, spec.frames_total, margins=margins)
    info.update(camera=camera.describe(), camera_source=source)
    if moves:
        info["camera_max_scale"] = round(float(camera.scales.max()), 3)
        if any(margins):
            info["camera_margins_px"] = list(margins)
    if source == "seed":
        info["camera_strength"] = moves[0].strength
    return camera, info


def plan_timeline(spec: VideoSpec, mode: str, keyframes: int) -> Timeline:
    """Holds and flow morphs for the mode's keyframes."""
    assert spec.frames_total
    if mode == "first_last":
        return Timeline.first_to_last(spec.frames_total)
    return Timeline.sequence(keyframes, spec.frames_total, spec.fps)


def plan_motion(spec: VideoSpec, keyframes_rgb: list[np.ndarray], mode: str, *,
                margins: tuple[int, int] = (0, 0)) -> MotionPlan:
    """Plan a clip from fitted keyframes (RGB, the output size plus ``margins`` per side)
    and the resolved spec."""
    camera, camera_info = plan_camera(spec, mode, margins=margins)
    timeline = plan_timeline(spec, mode, len(keyframes_rgb))
    return MotionPlan.of(mode, keyframes_rgb, timeline, camera, camera_info)


def render_frames(plan: MotionPlan) -> Iterator[np.ndarray]:
    """Yield the clip's frames (RGB uint8, output size) one at a time, in order."""
    held_rgb: dict[int, np.ndarray] = {}
    morph: FlowMorph | None = None
    morph_from = -1
    for index in range(plan.frames):
        k, t = plan.timeline.at(index)
        if t > 0.0:
            if morph_from != k:  # one morph alive at a time: flows are per keyframe pair
                morph = FlowMorph(plan.keyframes[k], plan.keyframes[k + 1])
                morph_from = k
            assert morph is not None
            content = morph.frame(t)
        else:
            content = plan.keyframes[k]
        if t == 0.0 and plan.camera.is_identity(index):
            if k not in held_rgb:
                held_rgb[k] = cv2.cvtColor(plan.camera.apply(content, index),
                                           cv2.COLOR_RGBA2RGB)
            yield held_rgb[k]
            continue
        yield cv2.cvtColor(plan.camera.apply(content, index), cv2.COLOR_RGBA2RGB)


def _rendered_ahead(frames: Iterator[np.ndarray], depth: int) -> Iterator[np.ndarray]:
    """Yield from ``frames`` while a worker thread renders the next ``depth`` frames.

    OpenCV and the encoder both release the GIL, so on two cores rendering and encoding
    overlap. Closing the generator (e.g. on cancel) stops the worker within one frame.
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for frame in frames:
                if not put(("frame", frame)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    worker = threading.Thread(target=work, name="motion-render", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


class MotionEngine(Engine):
    """Animate input images (or a test card) with a prompt-driven camera and flow morphs."""

    name: ClassVar[str] = "motion"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"video"}),
        roles=frozenset(IMAGE_ROLES),
        max_reference_images=4,
        resolutions=frozenset({"480p", "720p", "1080p"}),
        fps=frozenset({24, 16}),
        audio=False,
        media=frozenset({"reference_video", "reference_audio"}),
        extend=True,
    )

    def check_inputs(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs | None = None) -> None:
        """Refuse what this engine cannot do, in a user's words; cheap, no pixels touched."""
        check_capabilities(self.capabilities, spec, engine=self.name)
        assert isinstance(spec, VideoSpec)  # check_capabilities refused other kinds
        for side, value in (("width", spec.width), ("height", spec.height)):
            if value is not None and (value < 16 or value % 2):
                raise InvalidInput(f"video {side} must be an even number of pixels of at least "
                                   f"16 (H.264 4:2:0), got {value}", param="resolution")
        if spec.frames_total is not None and spec.frames_total < 2:
            raise InvalidInput(f"a video needs at least 2 frames, got {spec.frames_total}",
                               param="frames")
        if inputs is None:
            return
        check_decoded_images(spec, inputs)

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Render ``video.mp4`` (and ``last_frame.png`` when asked) into the work dir."""
        self.check_inputs(spec, inputs)
        assert isinstance(spec, VideoSpec)
        width, height, total, seed = _resolved(spec)

        # 1. Load and fit inputs: every keyframe is cover-fitted to the exact output size (a
        #    lone first frame keeps the picture the crop cut off, as margins for the camera).
        #    An extension starts from the last frame of the video it continues.
        head = _Extension.of(spec, inputs) if spec.task_type == "extend" else None
        shot = head.continuation(spec) if head else spec
        mode, keyframes, margins = (head.keyframes(width, height) if head else
                                    _fit_keyframes(spec, inputs, width, height, seed))
        soundtrack, clip_info = _reference_audio(spec, inputs, total / spec.fps)

        # 2-3. Plan the camera path (none in first+last mode: the keyframes define the
        #      motion) and the timeline: holds per keyframe, flow morphs between them.
        plan = plan_motion(shot, keyframes, mode, margins=margins)

        # 4. Render frames lazily, a couple ahead in a worker thread (never the whole clip);
        #    an extension's input video first, fitted, then the continuation after its
        #    first frame (the input's last, already shown).
        frames = _rendered_ahead(render_frames(plan), RENDER_AHEAD_FRAMES)
        if head:
            frames = _Joined(head.frames(width, height, spec.fps), frames)

        # 5. Encode: stream each frame to the encoder, report progress, honour cancel.
        video_path = inputs.work_dir / "video.mp4"
        last: np.ndarray | None = None
        try:
            with VideoWriter(video_path, width, height, spec.fps,
                             watermark=spec.watermark, audio=soundtrack) as writer:
                for index, frame in enumerate(frames):
                    if cancelled():
                        raise Cancelled()
                    writer.write(frame)
                    last = frame
                    progress(index + 1, total)
        finally:
            frames.close()
        assert last is not None

        # 6. Last frame, as encoded (watermarked when the video is), and the outputs.
        files = [OutputFileInfo(name="video.mp4", path=video_path, content_type="video/mp4",
                                width=width, height=height, frames=total, fps=spec.fps,
                                has_audio=soundtrack is not None)]
        if spec.return_last_frame:
            last_path = inputs.work_dir / "last_frame.png"
            save_png(last, last_path, watermark=spec.watermark)
            files.append(OutputFileInfo(name="last_frame.png", path=last_path,
                                        content_type="image/png", width=width, height=height))
        info = dict(plan.info, engine=self.name)
        clips = inputs.clips("reference_video")
        if head:
            info["mode"] = "extend"
            info["extended"] = (f"the input video's {head.count} frames ({head.seconds:.2f} s "
                                f"at {spec.fps} fps), then {total - head.count} frames "
                                "continuing from its last frame")
        elif clips:
            info["reference_video"] = (f"{len(clips)} clip(s), {VIDEO_KEYFRAMES} frames of "
                                       "each as keyframes after the reference images")
        info.update(clip_info)
        if (spec.generate_audio or spec.audio_ignored) and soundtrack is None:
            info["audio"] = "not generated: the motion engine makes silent videos"
        return EngineOutputs(files=files, seed=seed, info=info)


@dataclass(frozen=True)
class _Extension:
    """The video an ``extend`` task continues: its clip, its length, and the frames of the
    output it fills."""

    clip: InputMedia
    seconds: float
    count: int

    @classmethod
    def of(cls, spec: VideoSpec, inputs: EngineInputs) -> _Extension:
        """The task's one reference video, and how many output frames it fills."""
        (clip,) = inputs.clips("reference_video")
        seconds = spec.input_video_seconds
        count, _ = sizes.extended_frames(seconds, 1, spec.fps)
        return cls(clip, seconds, count)

    def continuation(self, spec: VideoSpec) -> VideoSpec:
        """The spec of the new part: from the input's last frame to the end."""
        assert spec.frames_total is not None
        return spec.model_copy(update={"frames_total": spec.frames_total - self.count + 1})

    def keyframes(self, width: int, height: int) -> tuple[str, list[np.ndarray],
                                                           tuple[int, int]]:
        """The continuation's one keyframe, the input's last frame, with its margins."""
        last = Image.fromarray(last_video_frame(self.clip.path, param=self.clip.param))
        canvas, margins = fit_cover_with_margins(last, width, height)
        return "first_frame", [np.ascontiguousarray(np.asarray(canvas.convert("RGB")))], margins

    def frames(self, width: int, height: int, fps: int) -> Iterator[np.ndarray]:
        """The input video's frames at ``fps``, each cover-fitted to the output size."""
        for frame in video_frames_at(self.clip.path, fps, self.count, param=self.clip.param):
            yield np.ascontiguousarray(np.asarray(
                fit_cover(Image.fromarray(frame), width, height).convert("RGB")))


class _Joined:
    """The input video's frames, then the rendered continuation without its first frame;
    ``close`` stops the render-ahead thread."""

    def __init__(self, head: Iterator[np.ndarray], rest: Any) -> None:
        self._rest = rest
        self._frames = itertools.chain(head, itertools.islice(rest, 1, None))

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._frames

    def close(self) -> None:
        """Stop rendering ahead."""
        self._rest.close()


def _reference_audio(spec: VideoSpec, inputs: EngineInputs,
                     seconds: float) -> tuple[AudioTrack | None, dict[str, Any]]:
    """The reference audio clips, one after another, cut or padded to the video's length,
    and what was done with them, for the task's info."""
    clips = inputs.clips("reference_audio")
    if not clips:
        return None, {}
    track, fitted = soundtrack([(c.path, c.param) for c in clips], seconds)
    own = sum(c.seconds or 0.0 for c in spec.clips("audio"))
    return track, {"reference_audio": f"{len(clips)} clip(s), {own:.2f} s, {fitted} to the "
                                      f"video's {seconds:.2f} s as its soundtrack"}


def _resolved(spec: VideoSpec) -> tuple[int, int, int, int]:
    """Width, height, frame count and seed of a resolved spec."""
    for param, value in (("resolution", spec.width), ("resolution", spec.height),
                         ("frames", spec.frames_total), ("seed", spec.seed)):
        if value is None:
            raise InvalidInput("the video spec was not resolved before running (no "
                               f"`{param}`)", param=param)
    assert spec.width and spec.height and spec.frames_total and spec.seed is not None
    if spec.seed < 0:
        raise InvalidInput(f"the video spec was not resolved before running (seed {spec.seed})",
                           param="seed")
    return spec.width, spec.height, spec.frames_total, spec.seed


def _fit_keyframes(spec: VideoSpec, inputs: EngineInputs, width: int, height: int,
                   seed: int) -> tuple[str, list[np.ndarray], tuple[int, int]]:
    """The mode, its keyframes as RGB arrays, and their margins: keyframes are exactly
    width×height, except a lone first frame, which keeps up to a quarter of each side of the
    source beyond the cover crop (``margins`` per side) for lateral moves to travel into."""
    first = inputs.by_role("first_frame")
    last = inputs.by_role("last_frame")
    references = inputs.by_role("reference_image")

    def rgb(image: Any) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))

    if first and last:
        return "first_last", [rgb(fit_cover(first[0], width, height)),
                              rgb(fit_last_frame(last[0], first[0].size, width, height))], (0, 0)
    if first:
        canvas, margins = fit_cover_with_margins(first[0], width, height)
        return "first_frame", [rgb(canvas)], margins
    references = references + [Image.fromarray(frame) for clip in inputs.clips("reference_video")
                               for frame in video_keyframes(clip.path, VIDEO_KEYFRAMES,
                                                            param=clip.param)]
    if references:   # morphs work on fitted frames, so the camera has no margins here
        return "references", [rgb(fit_cover(r, width, height)) for r in references], (0, 0)
    card = render_card(width, height, prompt=spec.prompt, model=spec.model, seed=seed,
                       note=T2V_NOTE)
    return "text", [card], (0, 0)
