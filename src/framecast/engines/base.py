"""The engine interface the worker calls.

An engine is one class in one file under ``engines/``. The worker's spawned child builds it
once per slot, calls ``load()`` once (keeping weights warm across tasks), then for every task
calls ``check_inputs(spec, inputs)`` and ``run(spec, inputs, progress, cancelled)``.

Contract:

* ``capabilities`` (a class attribute) says what the engine accepts: kinds, image roles,
  reference count, resolutions, fps, audio, the reference clips it uses (``media``) and
  whether it can continue a video (``extend``). The service checks a spec against it at
  create time so a client gets a 4xx before anything is queued.
* ``check_inputs`` raises ``InvalidInput`` in a user's words ("`last_frame` is not supported
  by engine wan_ti2v_5b"); it must not be slow.
* ``run`` receives the resolved spec (``width``, ``height``, ``frames_total``, ``seed`` set),
  the decoded input images (RGB ``PIL.Image`` in request order, with their roles), the
  reference clips as files (``media``, for the engine to decode), and a work directory.
  It writes its files there and returns ``EngineOutputs``. It calls
  ``progress(step, total)`` as work advances and checks ``cancelled()`` at least once per
  frame or denoising step, raising ``Cancelled`` when it returns True.
* The same spec (seed included) gives the same bytes, wherever the model allows it.
* ``cancel_grace_s`` (a class attribute, or a model's ``cancel_grace_s`` option) is how long
  the worker waits for ``run`` to honour a cancel before it kills the child: at least one
  denoising step plus the decode, so a cancel does not cost a reload. ``gpu`` says the engine
  runs on a GPU when one is visible; the worker then gives each slot's child its own.
* The CPU tail (retiming, H.264) may be left for later so the GPU starts the next task: when
  ``inputs.defer_tail`` is set, an engine may return ``EngineOutputs`` with no ``files`` and a
  ``finish`` that writes them (``outputs_with_tail``). The child runs ``finish`` on its tail
  thread while the next task denoises; ``complete()`` runs it at once for every other caller.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from framecast.core.errors import ConfigError, InvalidInput
from framecast.core.spec import ImageSpec, VideoSpec

ProgressFn = Callable[[int, int], None]
CancelledFn = Callable[[], bool]


DEFAULT_CANCEL_GRACE_S = 2.0   # a CPU engine checks ``cancelled()`` at every frame
MAX_CANCEL_GRACE_S = 3600.0    # more is a typo, not a step
# Options every engine takes that the worker reads, not the engine: ``Engine.__init__`` drops
# them, so an engine that refuses unknown keys never sees them.
WORKER_OPTION_KEYS = frozenset({"cancel_grace_s"})


class Cancelled(Exception):
    """Raised inside ``run`` when ``cancelled()`` returned True."""


@dataclass(frozen=True)
class Capabilities:
    """What an engine accepts."""

    kinds: frozenset[str]
    roles: frozenset[str] = frozenset()
    max_reference_images: int = 0
    requires_image: bool = False
    resolutions: frozenset[str] = frozenset({"480p", "720p", "1080p"})
    fps: frozenset[int] = frozenset({24, 16})
    audio: bool = False
    needs_weights: bool = False
    # the longest clip, in seconds (None: any duration the API allows); a model trained on
    # short clips, or one whose longer clips do not fit in memory, says so here
    max_seconds: float | None = None
    # Seedance 2.x reference clips the engine uses (``reference_video``, ``reference_audio``)
    media: frozenset[str] = frozenset()
    extend: bool = False   # continues an input video (omni_reference_task_type: extend)


@dataclass
class InputImage:
    """A decoded, validated input image (RGB) and its role."""

    role: str
    image: Image.Image


@dataclass
class InputMedia:
    """A checked reference clip (its bytes as the client sent them, in the work dir), its
    role and the request field it came from."""

    role: str
    path: Path
    param: str


@dataclass
class EngineInputs:
    """What ``run`` gets besides the spec: decoded images and a directory to write into."""

    images: list[InputImage]
    work_dir: Path
    # reference clips as files in the work dir, decoded by the engine that uses them
    media: list[InputMedia] = field(default_factory=list)
    # the caller runs a returned ``finish`` later, on another thread (the worker's child
    # does, for engines whose ``tail_overlaps`` says so); False: write the files in ``run``
    defer_tail: bool = False
    # hands a finished file to the worker before ``run`` returns (an image set's images, so
    # a streaming client gets each as it is made); None: nobody is waiting for them
    publish: Callable[[OutputFileInfo], None] | None = None

    def published(self, file: OutputFileInfo) -> OutputFileInfo:
        """Hand ``file`` to ``publish`` when there is one; returns it."""
        if self.publish is not None:
            self.publish(file)
        return file

    def by_role(self, role: str) -> list[Image.Image]:
        """The images with ``role``, in request order."""
        return [i.image for i in self.images if i.role == role]

    def clips(self, role: str) -> list[InputMedia]:
        """The reference clips with ``role``, in request order."""
        return [m for m in self.media if m.role == role]


@dataclass
class OutputFileInfo:
    """A file ``run`` wrote into the work dir."""

    name: str            # "video.mp4", "image.png", "last_frame.png"
    path: Path
    content_type: str
    width: int
    height: int
    frames: int | None = None
    fps: int | None = None
    has_audio: bool = False


@dataclass
class EngineOutputs:
    """What ``run`` returns: the files written, the seed used, free-form info for the task."""

    files: list[OutputFileInfo]
    seed: int
    info: dict[str, Any] = field(default_factory=dict)
    # the deferred CPU tail: writes the files (``files`` is empty until it ran); it gets a
    # cancel check and may raise ``Cancelled``. Only returned when ``inputs.defer_tail``.
    finish: Callable[[CancelledFn], list[OutputFileInfo]] | None = None

    def complete(self, cancelled: CancelledFn = lambda: False) -> EngineOutputs:
        """Run the deferred tail, if any, so that ``files`` holds every file written."""
        if self.finish is not None:
            finish, self.finish = self.finish, None
            self.files = finish(cancelled)
        return self


def outputs_with_tail(inputs: EngineInputs, write: Callable[[CancelledFn], list[OutputFileInfo]],
                      *, seed: int, info: dict[str, Any]) -> EngineOutputs:
    """What ``run`` returns when writing its files is CPU work the GPU need not wait for:
    ``write`` deferred as ``finish`` when the caller asked (``inputs.defer_tail``), else run
    now."""
    outputs = EngineOutputs(files=[], seed=seed, info=info, finish=write)
    return outputs if inputs.defer_tail else outputs.complete()


class Engine:
    """Base class of every engine. Subclasses set ``name`` and ``capabilities`` and implement
    ``run`` (and ``load`` when they hold weights)."""

    name: ClassVar[str] = "engine"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset())
    cancel_grace_s: ClassVar[float] = DEFAULT_CANCEL_GRACE_S   # cancel → stopped, at most
    gpu: ClassVar[bool] = False   # runs on a GPU when one is visible

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        options = dict(options or {})
        self.cancel_grace_for(options)   # a bad value fails the load, in the operator's words
        self.options = {k: v for k, v in options.items() if k not in WORKER_OPTION_KEYS}

    @classmethod
    def cancel_grace_for(cls, options: dict[str, Any] | None = None) -> float:
        """Seconds this engine, configured with ``options``, may take to stop after a cancel:
        the ``cancel_grace_s`` option, else the class's. ``ConfigError`` for a bad value."""
        value = (options or {}).get("cancel_grace_s", cls.cancel_grace_s)
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                0 <= value <= MAX_CANCEL_GRACE_S):
            raise ConfigError(f"engine {cls.name} options: cancel_grace_s must be a number of "
                              f"seconds within 0..{MAX_CANCEL_GRACE_S:.0f}, got {value!r}")
        return float(value)

    @classmethod
    def uses_gpu(cls, options: dict[str, Any] | None = None) -> bool:
        """Whether this engine, configured with ``options``, puts its work on a GPU (a
        ``device`` option of ``cpu`` says no)."""
        device = str((options or {}).get("device", "auto")).strip().lower()
        return cls.gpu and not device.startswith("cpu")

    @classmethod
    def tail_overlaps(cls, options: dict[str, Any] | None = None) -> bool:
        """Whether the worker should overlap this engine's CPU tail with its next task: only
        when the engine defers one and its main work is on a GPU (a CPU engine's tail would
        compete with its own next task for the same cores)."""
        return cls.uses_gpu(options)

    @classmethod
    def capabilities_for(cls, options: dict[str, Any] | None = None) -> Capabilities:
        """What this engine accepts when configured with ``options`` (a registry entry's):
        ``wan_i2v`` with the TI2V-5B weights takes no last frame, say. The service checks a
        request against this at create time."""
        return cls.capabilities

    def load(self) -> None:
        """Load weights once; the child keeps the engine warm across tasks."""

    def check_inputs(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs | None = None) -> None:
        """Raise ``InvalidInput`` when the spec asks for what this engine cannot do."""
        check_capabilities(self.capabilities_for(self.options), spec, engine=self.name)

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Generate the outputs for a resolved spec into ``inputs.work_dir``."""
        raise NotImplementedError


def check_capabilities(caps: Capabilities, spec: VideoSpec | ImageSpec, *, engine: str) -> None:
    """The generic checks of a spec against declared capabilities (errors in a user's words)."""
    if spec.kind not in caps.kinds:
        raise InvalidInput(f"model `{spec.model}` (engine {engine}) does not generate "
                           f"{spec.kind}s", param="model")
    for image in spec.images:
        if image.role not in caps.roles:
            raise InvalidInput(f"images with role `{image.role}` are not supported by model "
                               f"`{spec.model}` (engine {engine})", param=image.param)
    refs = [i for i in spec.images if i.role == "reference_image"]
    if len(refs) > caps.max_reference_images:
        raise InvalidInput(f"model `{spec.model}` accepts at most {caps.max_reference_images} "
                           f"reference images, got {len(refs)}",
                           param=refs[caps.max_reference_images].param)
    for clip in getattr(spec, "media", ()):
        if clip.role not in caps.media:
            raise InvalidInput(f"`{clip.role}` clips are not used by model `{spec.model}` "
                               f"(engine {engine})", param=clip.param)
    if caps.requires_image and not spec.images:
        raise InvalidInput(f"model `{spec.model}` needs an input image", param="images")
    if isinstance(spec, VideoSpec):
        if spec.resolution is not None and spec.resolution not in caps.resolutions:
            raise InvalidInput(f"model `{spec.model}` does not support resolution "
                               f"{spec.resolution}", param="resolution")
        if spec.fps not in caps.fps:
            raise InvalidInput(f"model `{spec.model}` does not support {spec.fps} fps",
                               param="fps")
        seconds, param = clip_seconds(spec)
        if caps.max_seconds is not None and seconds > caps.max_seconds + 1e-9:
            raise InvalidInput(f"model `{spec.model}` (engine {engine}) makes clips of at most "
                               f"{caps.max_seconds:g} s, got {seconds:g} s", param=param)


def clip_seconds(spec: VideoSpec) -> tuple[float, str]:
    """How long a video spec's clip runs, and the field that set it (``duration`` or
    ``frames``; 5 s by default, as the vendor's)."""
    if spec.frames_total is not None:
        return (spec.frames_total - 1) / spec.fps, "frames" if spec.frames else "duration"
    if spec.frames is not None:
        return (spec.frames - 1) / spec.fps, "frames"
    return float(spec.duration if spec.duration is not None else 5), "duration"


IMAGE_ROLES = ("first_frame", "last_frame", "reference_image")


def check_decoded_images(spec: VideoSpec | ImageSpec, inputs: EngineInputs) -> None:
    """The images that reached ``run`` are the request's, role for role, and a last frame
    comes with a first frame (errors in a user's words)."""
    for role in IMAGE_ROLES:
        asked = sum(1 for i in spec.images if i.role == role)
        given = len(inputs.by_role(role))
        if asked != given:
            raise InvalidInput(f"the request has {asked} `{role}` image(s) but {given} "
                               f"arrived decoded", param="images")
    if inputs.by_role("last_frame") and not inputs.by_role("first_frame"):
        raise InvalidInput("an image with role `last_frame` needs an image with role "
                           "`first_frame`", param="images")


# Test fixtures, not for users' models: engines that misbehave on purpose, for the worker's
# fault tests and the control-plane benchmark (``testing.py``, docs/engines.md).
TESTING_ENGINES: dict[str, str] = {
    "instant": "framecast.engines.testing:InstantEngine",
    "sleeps": "framecast.engines.testing:SleepsEngine",
    "dies_mid_run": "framecast.engines.testing:DiesMidRunEngine",
    "raises_in_load": "framecast.engines.testing:RaisesInLoadEngine",
}

# engine name -> "module:Class"; a registry entry may also name "module:Class" directly.
BUILTIN_ENGINES: dict[str, str] = {
    "motion": "framecast.engines.motion:MotionEngine",
    "testcard": "framecast.engines.testcard:TestcardEngine",
    **TESTING_ENGINES,
    # diffusers engines (the framecast[diffusers] extra; torch is imported only when they run)
    "wan_i2v": "framecast.engines.wan_i2v:WanI2VEngine",
    "wan_vace": "framecast.engines.wan_vace:WanVaceEngine",
    "ltx2": "framecast.engines.ltx2:LTX2Engine",
    "zimage": "framecast.engines.zimage:ZImageEngine",
    "flux": "framecast.engines.flux:FluxEngine",
    "sdxl": "framecast.engines.sdxl:SDXLEngine",
}


def engine_class(name: str) -> type[Engine]:
    """Resolve an engine name (built-in or ``module:Class``) to its class."""
    target = BUILTIN_ENGINES.get(name, name)
    if ":" not in target:
        raise ConfigError(f"unknown engine {name!r}; built-in engines are "
                          f"{', '.join(sorted(BUILTIN_ENGINES))} (or give module:Class)")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"engine {name!r} cannot be imported from {target}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise ConfigError(f"engine {name!r} ({target}) is not an Engine subclass")
    return cls
