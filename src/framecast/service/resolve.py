"""Spec resolution: a client's spec and the model entry that serves it → the complete spec a
worker runs (pure functions; no I/O).

The create path asks the engine for its capabilities once (``entry_capabilities``), refuses
what they and the model's contract exclude before any input is fetched (``check_video_spec``:
resolutions, durations and ``-1``, drafts, task types, reference-clip counts), checks the
clips' lengths once their headers are read (``check_clip_lengths``), then fills every
default (``fill_video_spec``). A final is its draft's shot at a new resolution
(``final_spec``). Images: a Seedream model's sizes, presets and sets (``fill_image_spec``).
"""

from __future__ import annotations

import re
import secrets

from framecast.core import sizes
from framecast.core.errors import InvalidInput
from framecast.core.spec import ImageSpec, KeptInput, VideoSpec
from framecast.core.task import Task
from framecast.engines.base import Capabilities, check_capabilities, engine_class
from framecast.service.registry import ModelEntry, VideoContract

SEED_RANGE = 2**31            # a random seed is drawn from [0, SEED_RANGE)
DEFAULT_DURATION_S = 5
DRAFT_RESOLUTION = "480p"     # a draft is rendered at this size, whatever the model's default
TASK_TYPE_CONSTRAINT = "InvalidParameter.TaskTypeConstraint"   # the vendor's code


def entry_capabilities(entry: ModelEntry) -> Capabilities:
    """What the engine of ``entry``, configured with its options, accepts."""
    return engine_class(entry.engine).capabilities_for(entry.options)


def check_video_spec(spec: VideoSpec, entry: ModelEntry, caps: Capabilities) -> None:
    """What can be refused before any input is fetched: engine capabilities and the
    model's contract (resolutions, durations, drafts, task types)."""
    check_capabilities(caps, spec, engine=entry.engine)
    rules = entry.rules
    resolution = spec.resolution or (DRAFT_RESOLUTION if spec.draft
                                     else entry.default_resolution)
    if spec.draft and not rules.draft:
        raise InvalidInput(f"model `{spec.model}` renders no drafts (Seedance 1.5 pro and 2.5 "
                           "do)", param="draft")
    if spec.draft and resolution != DRAFT_RESOLUTION:
        raise InvalidInput(f"a draft is rendered at {DRAFT_RESOLUTION}, got {resolution}; "
                           "render the final from the draft task", param="resolution")
    if resolution not in entry.resolutions:
        raise InvalidInput(f"model `{spec.model}` supports resolutions "
                           f"{', '.join(entry.resolutions)}, got {resolution}",
                           param="resolution")
    low, high = rules.durations
    if spec.duration == sizes.AUTO_DURATION and not rules.auto_duration:
        raise InvalidInput(f"model `{spec.model}` takes no automatic duration (-1)",
                           param="duration")
    if spec.duration not in (None, sizes.AUTO_DURATION) and not low <= spec.duration <= high:
        raise InvalidInput(f"model `{spec.model}` makes videos of {low} to {high} seconds "
                           f"(or -1: automatic), got {spec.duration}", param="duration")
    check_task_type(spec, rules, caps)
    check_clip_counts(spec, rules)


def check_clip_counts(spec: VideoSpec, rules: VideoContract) -> None:
    """Reference clips the model takes, counted before anything is fetched."""
    for kind, most in (("video", rules.reference_videos), ("audio", rules.reference_audios)):
        clips = spec.clips(kind)
        if clips and not most:
            raise InvalidInput(f"model `{spec.model}` takes no reference {kind} (Seedance "
                               "2.x does)", param=clips[0].param)
        if len(clips) > most:
            raise InvalidInput(f"model `{spec.model}` takes at most {most} reference "
                               f"{kind} clips, got {len(clips)}", param=clips[most].param)
    audio = spec.clips("audio")
    if audio and not rules.audio_alone and not spec.clips("video") and not spec.images:
        raise InvalidInput(f"model `{spec.model}` takes reference audio only beside an image "
                           "or a video", param=audio[0].param)


def check_clip_lengths(spec: VideoSpec, rules: VideoContract) -> None:
    """The checked clips' lengths against the model's: each kind's clips together."""
    for kind in ("video", "audio"):
        clips = spec.clips(kind)
        total = sum(c.seconds or 0.0 for c in clips)
        if total > rules.clips_total_s + 1e-6:
            raise InvalidInput(f"the reference {kind} clips last {total:.1f} s together; "
                               f"model `{spec.model}` takes at most {rules.clips_total_s:g} s",
                               param=clips[-1].param)


def check_task_type(spec: VideoSpec, rules: VideoContract, caps: Capabilities) -> None:
    """Seedance 2.x ``omni_reference_task_type``, when given explicitly: the model must take
    task types, and the request must be that kind of task (the vendor checks an explicit
    type at create, ``auto`` only once the task runs). ``extend`` continues one reference
    video, on an engine that can; no engine here can ``edit`` one."""
    kind = spec.task_type
    if kind is None:
        return
    param = "omni_reference_task_type"
    if not rules.task_types:
        raise InvalidInput(f"model `{spec.model}` takes no `{param}` (Seedance 2.x does)",
                           param=param)
    if kind == "edit" or (kind == "extend" and not caps.extend):
        raise InvalidInput(f"`{param}: {kind}` changes an input video; the engine serving "
                           f"model `{spec.model}` cannot {kind} a video", param=param,
                           code=TASK_TYPE_CONSTRAINT)
    if kind == "extend" and (len(spec.clips("video")) != 1 or spec.images):
        raise InvalidInput(f"`{param}: extend` continues exactly one `video_url` item (and "
                           "takes no images)", param=param, code=TASK_TYPE_CONSTRAINT)
    if kind == "reference":
        if spec.first_frame is not None:
            raise InvalidInput(f"`{param}: reference` takes reference images, not a "
                               "`first_frame` / `last_frame`", param=param,
                               code=TASK_TYPE_CONSTRAINT)
        if not spec.reference_images and not spec.media:
            raise InvalidInput(f"`{param}: reference` needs a reference image, video or "
                               "audio clip", param=param, code=TASK_TYPE_CONSTRAINT)
    if (spec.first_frame is not None or kind == "extend") and \
            spec.ratio not in (None, "adaptive"):
        raise InvalidInput(f"a {'first-frame' if kind != 'extend' else 'extend'} task with "
                           f"`{param}` set takes `ratio: adaptive`, got {spec.ratio}",
                           param="ratio", code=TASK_TYPE_CONSTRAINT)


def fill_video_spec(spec: VideoSpec, entry: ModelEntry, caps: Capabilities) -> VideoSpec:
    """Fill every default from the model entry and fix the exact output of a checked spec:
    resolution, ratio (``adaptive`` → the listed ratio nearest the first frame), pixel size,
    frame count, seed. Input images must already carry their ``width``/``height``."""
    out = spec.model_copy()   # shallow: only top-level fields are set below
    out.resolution = out.resolution or (  # type: ignore[assignment]
        DRAFT_RESOLUTION if out.draft else entry.default_resolution)
    first: KeptInput | None = out.first_frame or (
        out.reference_images[0] if out.reference_images else None)
    if out.task_type == "extend":       # the video it continues sets the shape
        first = out.clips("video")[0]
    if out.ratio is None:
        out.ratio = "adaptive" if out.first_frame or out.task_type == "extend" else "16:9"
    if out.ratio == "adaptive":
        if first is not None and first.width and first.height:
            out.ratio = sizes.nearest_ratio(first.width, first.height)  # type: ignore[assignment]
        else:
            out.ratio = "16:9"
    out.width, out.height = sizes.video_size(entry.size_family, out.resolution, out.ratio)
    if out.duration == sizes.AUTO_DURATION:   # the model decides: here, its default
        out.duration = DEFAULT_DURATION_S
    if out.frames is None and out.duration is None:
        out.duration = DEFAULT_DURATION_S
    out.frames_total = sizes.frame_count(duration=out.duration, frames=out.frames, fps=out.fps)
    if out.task_type == "extend":       # the input video, then the continuation
        _, out.frames_total = sizes.extended_frames(out.input_video_seconds, out.frames_total,
                                                    out.fps)
    if out.seed is None or out.seed == -1:
        out.seed = secrets.randbelow(SEED_RANGE)
    if "generate_audio" not in spec.model_fields_set:   # the model's default
        out.generate_audio = entry.rules.generate_audio
    if out.generate_audio and not caps.audio:
        out.generate_audio = False    # the vendor: models without audio ignore the flag …
        out.audio_ignored = True      # … and the engine says so in the task's engine_info
    return out


# What a final takes from its request; everything else (prompt, images, ratio, duration,
# seed, camera, audio) is the draft's, so that the final is the same shot.
FINAL_FROM_REQUEST = ("resolution", "return_last_frame", "callback_url", "service_tier",
                      "execution_expires_after", "watermark")


def final_spec(request: VideoSpec, draft: Task) -> VideoSpec:
    """The spec of a final: the draft's resolved shot (its prompt, input images, ratio,
    duration or frames, seed, camera and audio) with the request's resolution and delivery
    fields, to be resolved again at the new resolution."""
    shot = VideoSpec.model_validate(draft.spec)
    given = {name: getattr(request, name) for name in FINAL_FROM_REQUEST
             if name in request.model_fields_set}
    # anything else the request sets must be what the draft had (`draft: false` included)
    changed = sorted(name for name in request.model_fields_set - {
        *FINAL_FROM_REQUEST, "model", "draft", "draft_of", "prompt", "images", "media", "fps",
        "kind"} if getattr(request, name) is not None
        and getattr(request, name) != getattr(shot, name))
    if changed:
        raise InvalidInput(f"a final renders its draft's shot; `{changed[0]}` comes from the "
                           "draft and cannot be changed", param=changed[0])
    return shot.model_copy(update={
        "model": request.model, "draft": False, "draft_of": draft.id,
        "images": [i.model_copy() for i in shot.images],
        "media": [m.model_copy() for m in shot.media],
        "seed": draft.seed if draft.seed is not None else shot.seed,
        "resolution": None, "width": None, "height": None, "frames_total": None,
        "return_last_frame": False, "callback_url": None, **given})


def resolve_video_spec(spec: VideoSpec, entry: ModelEntry) -> VideoSpec:
    """``check_video_spec`` then ``fill_video_spec``, the capabilities asked for here."""
    caps = entry_capabilities(entry)
    check_video_spec(spec, entry, caps)
    return fill_video_spec(spec, entry, caps)


def check_image_spec(spec: ImageSpec, entry: ModelEntry, caps: Capabilities) -> None:
    """What can be refused before any input is fetched: engine capabilities, the model's
    sizes, and image sets on a model that makes none."""
    check_capabilities(caps, spec, engine=entry.engine)
    family = sizes.IMAGE_FAMILIES.get(entry.image_family)
    if spec.sequential and family is None:
        raise InvalidInput(f"model `{spec.model}` does not make image sets (Seedream 4.0 and "
                           "later do)", param="sequential_image_generation")
    if len(spec.images) >= sizes.SEEDREAM_MAX_IMAGES:
        raise InvalidInput(f"at most {sizes.SEEDREAM_MAX_IMAGES - 1} reference images leave "
                           f"room for an output, got {len(spec.images)}", param="image")
    if spec.size is not None:
        image_pixels(spec.size, family, ratio="1:1")


def fill_image_spec(spec: ImageSpec, entry: ModelEntry) -> ImageSpec:
    """Fill defaults from the model entry: the pixel size (a Seedream preset takes the
    aspect ratio its prompt states, else its first reference image's, else 1:1), the output
    format (JPEG on Seedream 4.0 and later, as the vendor's), how many images a set holds,
    and the seed. Input images must already carry their ``width``/``height``."""
    out = spec.model_copy()   # shallow: only top-level fields are set below
    family = sizes.IMAGE_FAMILIES.get(entry.image_family)
    out.width, out.height = image_pixels(out.size or entry.default_size, family,
                                         ratio=preset_ratio(out))
    out.size = f"{out.width}x{out.height}"
    out.output_format = out.output_format or ("jpeg" if family else "png")
    out.count = image_set_count(out.prompt, out.max_images, len(out.images)) \
        if out.sequential else 1
    if out.seed is None or out.seed == -1:
        out.seed = secrets.randbelow(SEED_RANGE)
    return out


def image_pixels(size: str, family: sizes.ImageFamily | None, *,
                 ratio: str) -> tuple[int, int]:
    """``size`` in pixels for a model of ``family`` (None: the generic ``WxH`` rules)."""
    if family is None:
        return sizes.parse_image_size(size)
    return family.size(size, ratio=ratio)


def preset_ratio(spec: ImageSpec) -> str:
    """The row of the preset table a Seedream preset size takes: the ratio the prompt
    states, else the one nearest the first reference image, else 1:1."""
    stated = sizes.ratio_in_text(spec.prompt)
    if stated:
        return stated
    first = spec.images[0] if spec.images else None
    if first is not None and first.width and first.height:
        return sizes.nearest_ratio(first.width, first.height, sizes.PRESET_RATIOS)
    return "1:1"


DEFAULT_SET_SIZE = 4          # a set whose prompt and options name no count
_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                 "eleven", "twelve", "thirteen", "fourteen", "fifteen")
_SET_COUNT = re.compile(
    r"\b(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")\s+(?:[a-z-]+\s+){0,2}?"
    r"(?:images|pictures|photos|photographs|illustrations|panels|frames|scenes|shots|"
    r"views|variations|versions|posters|stickers|icons|pages|cards|drawings|renders)\b",
    re.IGNORECASE)


def image_set_count(prompt: str, max_images: int | None, references: int) -> int:
    """How many images a sequential generation makes. The vendor's model decides from the
    prompt, up to ``max_images``; here: the count the prompt states ("four posters", "a set
    of 6 images"), else ``max_images`` when given, else ``DEFAULT_SET_SIZE``; never more
    than ``max_images``, nor than references + outputs = 15 allow."""
    cap = min(max_images or sizes.SEEDREAM_MAX_IMAGES,
              sizes.SEEDREAM_MAX_IMAGES - references)
    match = _SET_COUNT.search(prompt)
    if match:
        word = match[1].lower()
        stated = int(word) if word.isdigit() else _NUMBER_WORDS.index(word) + 1
        return max(1, min(stated, cap))
    return max(1, min(max_images or DEFAULT_SET_SIZE, cap))


def resolve_image_spec(spec: ImageSpec, entry: ModelEntry) -> ImageSpec:
    """``check_image_spec`` then ``fill_image_spec``."""
    check_image_spec(spec, entry, entry_capabilities(entry))
    return fill_image_spec(spec, entry)
