"""Spec resolution: a client's spec and the model entry that serves it → the complete spec a
worker runs (pure functions; no I/O).

The create path asks the engine for its capabilities once (``entry_capabilities``), refuses
what they exclude before any input is fetched (``check_video_spec``), then fills every
default (``fill_video_spec``) once the input images' sizes are known. ``resolve_video_spec``
does both, for callers that hold no capabilities yet.
"""

from __future__ import annotations

import secrets

from framecast.core import sizes
from framecast.core.errors import InvalidInput
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.engines.base import Capabilities, check_capabilities, engine_class
from framecast.service.registry import ModelEntry

SEED_RANGE = 2**31            # a random seed is drawn from [0, SEED_RANGE)
DEFAULT_DURATION_S = 5


def entry_capabilities(entry: ModelEntry) -> Capabilities:
    """What the engine of ``entry``, configured with its options, accepts."""
    return engine_class(entry.engine).capabilities_for(entry.options)


def check_video_spec(spec: VideoSpec, entry: ModelEntry, caps: Capabilities) -> None:
    """What can be refused before any input is fetched: engine capabilities and the
    model's resolutions."""
    check_capabilities(caps, spec, engine=entry.engine)
    resolution = spec.resolution or entry.default_resolution
    if resolution not in entry.resolutions:
        raise InvalidInput(f"model `{spec.model}` supports resolutions "
                           f"{', '.join(entry.resolutions)}, got {resolution}",
                           param="resolution")


def fill_video_spec(spec: VideoSpec, entry: ModelEntry, caps: Capabilities) -> VideoSpec:
    """Fill every default from the model entry and fix the exact output of a checked spec:
    resolution, ratio (``adaptive`` → the listed ratio nearest the first frame), pixel size,
    frame count, seed. Input images must already carry their ``width``/``height``."""
    out = spec.model_copy()   # shallow: only top-level fields are set below
    out.resolution = out.resolution or entry.default_resolution  # type: ignore[assignment]
    first = out.first_frame or (out.reference_images[0] if out.reference_images else None)
    if out.ratio is None:
        out.ratio = "adaptive" if out.first_frame else "16:9"
    if out.ratio == "adaptive":
        if first is not None and first.width and first.height:
            out.ratio = sizes.nearest_ratio(first.width, first.height)  # type: ignore[assignment]
        else:
            out.ratio = "16:9"
    out.width, out.height = sizes.video_size(entry.size_family, out.resolution, out.ratio)
    if out.frames is None and out.duration is None:
        out.duration = DEFAULT_DURATION_S
    out.frames_total = sizes.frame_count(duration=out.duration, frames=out.frames, fps=out.fps)
    if out.seed is None or out.seed == -1:
        out.seed = secrets.randbelow(SEED_RANGE)
    if out.generate_audio and not caps.audio:
        out.generate_audio = False    # the vendor: models without audio ignore the flag …
        out.audio_ignored = True      # … and the engine says so in the task's engine_info
    return out


def resolve_video_spec(spec: VideoSpec, entry: ModelEntry) -> VideoSpec:
    """``check_video_spec`` then ``fill_video_spec``, the capabilities asked for here."""
    caps = entry_capabilities(entry)
    check_video_spec(spec, entry, caps)
    return fill_video_spec(spec, entry, caps)


def check_image_spec(spec: ImageSpec, entry: ModelEntry, caps: Capabilities) -> None:
    """What can be refused before any input is fetched."""
    check_capabilities(caps, spec, engine=entry.engine)


def fill_image_spec(spec: ImageSpec, entry: ModelEntry) -> ImageSpec:
    """Fill defaults (size from the model entry) and the seed; parse the size."""
    out = spec.model_copy()   # shallow: only top-level fields are set below
    out.width, out.height = sizes.parse_image_size(out.size, default=entry.default_size)
    out.size = f"{out.width}x{out.height}"
    if out.seed is None or out.seed == -1:
        out.seed = secrets.randbelow(SEED_RANGE)
    return out


def resolve_image_spec(spec: ImageSpec, entry: ModelEntry) -> ImageSpec:
    """``check_image_spec`` then ``fill_image_spec``."""
    check_image_spec(spec, entry, entry_capabilities(entry))
    return fill_image_spec(spec, entry)
