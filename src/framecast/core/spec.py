"""The canonical generation specs, independent of any dialect.

A dialect builds a ``VideoSpec`` or ``ImageSpec`` from its wire request; ``TaskService``
resolves it (model defaults, ``adaptive`` ratio, exact pixel size, frame count, seed) before
the task is stored, so the stored spec is complete and an engine never guesses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from framecast.core import sizes
from framecast.core.errors import InvalidInput

Role = Literal["first_frame", "last_frame", "reference_image"]
TaskType = Literal["auto", "reference", "edit", "extend"]
ServiceTier = Literal["default", "flex"]
ResponseFormat = Literal["url", "b64_json"]
ImageFormat = Literal["png", "jpeg"]
IMAGE_CONTENT_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg"}

MAX_REFERENCE_IMAGES = 4
EXPIRES_MIN_S = 3600
EXPIRES_MAX_S = 259200
EXPIRES_DEFAULT_S = 172800
SEED_MAX = 4294967295
IMAGE_SEED_MAX = 2147483647     # Seedream's documented range is [-1, 2^31 - 1]
PROMPT_MAX_CHARS = 10_000


class KeptInput(BaseModel):
    """An input the client pointed to and the service keeps: ``url`` as the client sent it,
    and once checked, the ``key`` of the kept bytes and (for pictures) their size."""

    model_config = ConfigDict(extra="forbid")

    url: str
    key: str | None = None
    width: int | None = None
    height: int | None = None


class ImageInput(KeptInput):
    """One input image: where the client said it is, and where we keep the checked copy.

    ``url`` is the client's http(s) URL or ``data:`` URI (data URIs are not stored: the
    service replaces them with ``"data:"`` once the bytes are kept under ``key``).
    ``param`` is the request field it came from, in the client's words (``content[1]
    .image_url.url``), set by the dialect; errors about this one image name it.
    """

    role: Role
    param: str = "images"


MediaRole = Literal["reference_video", "reference_audio"]


class MediaInput(KeptInput):
    """One reference clip (Seedance 2.x ``video_url`` / ``audio_url``): where the client said
    it is, and, once checked and kept, its ``key``, length and (a video's) size. ``param``
    is the request field it came from (``content[2].video_url.url``)."""

    role: MediaRole
    param: str = "media"
    seconds: float | None = None

    @property
    def kind(self) -> str:
        """``video`` or ``audio``."""
        return "video" if self.role == "reference_video" else "audio"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    model: str = Field(min_length=1, max_length=256)
    prompt: str = Field(default="", max_length=PROMPT_MAX_CHARS)
    seed: int | None = None
    watermark: bool = False
    images: list[ImageInput] = Field(default_factory=list)


class VideoSpec(_Spec):
    """An image-to-video (or text-to-video) request in Framecast's own terms.

    Unresolved fields are ``None``; after ``TaskService`` resolves a spec, ``resolution``,
    ``ratio``, ``width``, ``height``, ``frames_total`` and ``seed`` are all set.
    """

    kind: Literal["video"] = "video"
    resolution: sizes.Resolution | None = None
    ratio: Literal["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21", "adaptive"] | None = None
    duration: int | None = None
    frames: int | None = None
    fps: int = 24
    camera_fixed: bool = False
    generate_audio: bool = False   # when not given: the model's default (resolve.py)
    audio_ignored: bool = False    # resolved: audio was asked of an engine without it
    draft: bool = False            # a 480p preview, to be rendered in full later
    draft_of: str | None = None    # the draft task this one renders in full
    task_type: TaskType | None = None   # Seedance 2.x omni_reference_task_type
    media: list[MediaInput] = Field(default_factory=list)   # Seedance 2.x reference clips
    return_last_frame: bool = False
    service_tier: ServiceTier = "default"
    callback_url: str | None = None
    execution_expires_after: int = EXPIRES_DEFAULT_S
    # resolved
    width: int | None = None
    height: int | None = None
    frames_total: int | None = None

    @model_validator(mode="after")
    def _check(self) -> VideoSpec:
        check_video_rules(self)
        return self

    @property
    def first_frame(self) -> ImageInput | None:
        """The first-frame image, if any (an image with no role counts as first frame)."""
        return next((i for i in self.images if i.role == "first_frame"), None)

    @property
    def last_frame(self) -> ImageInput | None:
        """The last-frame image, if any."""
        return next((i for i in self.images if i.role == "last_frame"), None)

    @property
    def reference_images(self) -> list[ImageInput]:
        """The reference images, in request order."""
        return [i for i in self.images if i.role == "reference_image"]

    def clips(self, kind: str) -> list[MediaInput]:
        """The reference clips of one kind (``video`` | ``audio``), in request order."""
        return [m for m in self.media if m.kind == kind]

    @property
    def input_video_seconds(self) -> float:
        """The reference videos' total length (tokens count it: the vendor's formula)."""
        return sum(m.seconds or 0.0 for m in self.clips("video"))


class ImageSpec(_Spec):
    """A text-to-image (Seedream) request; ``size`` is ``WxH`` or a preset until resolved.

    ``sequential`` asks for a set of related images (Seedream 4.x ``sequential_image_
    generation: auto``), at most ``max_images``; once resolved, ``count`` says how many are
    made, each ``width`` × ``height``, written as ``output_names``.
    """

    kind: Literal["image"] = "image"
    size: str | None = None
    guidance_scale: float | None = None
    response_format: ResponseFormat = "url"
    output_format: ImageFormat | None = None
    sequential: bool = False
    max_images: int | None = None
    watermark: bool = True
    callback_url: str | None = None
    service_tier: ServiceTier = "default"
    execution_expires_after: int = EXPIRES_DEFAULT_S
    # resolved
    width: int | None = None
    height: int | None = None
    count: int = 1

    @property
    def output_names(self) -> list[str]:
        """The files a resolved spec's engine writes, in order: ``image.png`` for one image,
        ``image-1.jpeg`` … for a set (the extension is the output format's)."""
        ext = self.output_format or "png"
        if self.count == 1:
            return [f"image.{ext}"]
        return [f"image-{n}.{ext}" for n in range(1, self.count + 1)]

    @model_validator(mode="after")
    def _check(self) -> ImageSpec:
        check_seed(self.seed, high=IMAGE_SEED_MAX)
        if self.guidance_scale is not None and not 1.0 <= self.guidance_scale <= 10.0:
            raise InvalidInput("`guidance_scale` must be within [1, 10], "
                               f"got {self.guidance_scale}", param="guidance_scale")
        return self


GenerationSpec = VideoSpec | ImageSpec


def spec_from_json(data: dict[str, Any]) -> GenerationSpec:
    """A stored spec (``Task.spec``, the JSON a resolved spec was saved as) as its model."""
    if data.get("kind", "video") == "image":
        return ImageSpec.model_validate(data)
    return VideoSpec.model_validate(data)


# ---- the cross-field rules of a new request, for every API -------------------------------


def one_spelling(values: Mapping[str, Any], param: str) -> Any:
    """The value of a field some APIs accept under two spellings (``camera_fixed`` and
    ``camerafixed``): None when neither is given, the value when the given ones agree; when
    they disagree, ``InvalidInput`` naming ``param`` (AI/ML and AceData alike)."""
    given = {name: value for name, value in values.items() if value is not None}
    if len(set(given.values())) > 1:
        names = " and ".join(f"`{name}`" for name in given)
        raise InvalidInput(f"{names} disagree; send one of them", param=param)
    return next(iter(given.values()), None)


def check_new_request(spec: VideoSpec | ImageSpec) -> None:
    """The rules a new request meets whichever API it came through (a stored spec is not
    checked again): a video has a prompt or an image to start from; an image a prompt."""
    if "\x00" in spec.prompt:
        raise InvalidInput("`prompt` holds a NUL character", param="prompt")
    if spec.prompt.strip():
        return
    if isinstance(spec, ImageSpec):
        raise InvalidInput("`prompt` is required", param="prompt")
    if not spec.images:
        raise InvalidInput("a video needs a `prompt`, an image, or both", param="prompt")


def check_seed(seed: int | None, param: str = "seed", high: int = SEED_MAX) -> None:
    """A seed is -1 (random) or within [0, high] (Seedance: 2^32 - 1)."""
    if seed is not None and not -1 <= seed <= high:
        raise InvalidInput(f"`seed` must be within [-1, {high}], got {seed}", param=param)


def check_video_rules(spec: VideoSpec) -> None:
    """The Seedance rules that hold for every model: roles, counts, ranges, exclusivity."""
    check_seed(spec.seed)
    roles = [i.role for i in spec.images]
    refs = roles.count("reference_image")
    if roles.count("first_frame") > 1:
        raise InvalidInput("at most one image may have role `first_frame`", param="images")
    if roles.count("last_frame") > 1:
        raise InvalidInput("at most one image may have role `last_frame`", param="images")
    if "last_frame" in roles and "first_frame" not in roles:
        raise InvalidInput("an image with role `last_frame` needs an image with role "
                           "`first_frame`", param="images")
    if refs and ("first_frame" in roles or "last_frame" in roles):
        raise InvalidInput("`reference_image` images cannot be combined with `first_frame` or "
                           "`last_frame` images", param="images")
    if spec.clips("video") and ("first_frame" in roles or "last_frame" in roles):
        raise InvalidInput("a `reference_video` cannot be combined with `first_frame` or "
                           "`last_frame` images", param="media")
    if refs > MAX_REFERENCE_IMAGES:
        raise InvalidInput(f"at most {MAX_REFERENCE_IMAGES} `reference_image` images are "
                           f"allowed, got {refs}", param="images")
    if spec.duration is not None and spec.frames is not None:
        raise InvalidInput("`duration` and `frames` are mutually exclusive", param="frames")
    if spec.duration is not None and spec.duration != sizes.AUTO_DURATION:
        sizes.check_duration(spec.duration, high=sizes.DURATION_LONGEST_S)
    if spec.frames is not None:
        sizes.check_frames(spec.frames)
    if spec.fps not in sizes.FPS_CHOICES:
        raise InvalidInput(f"`fps` must be one of 24, 16, got {spec.fps}", param="fps")
    if not EXPIRES_MIN_S <= spec.execution_expires_after <= EXPIRES_MAX_S:
        raise InvalidInput(f"`execution_expires_after` must be within [{EXPIRES_MIN_S}, "
                           f"{EXPIRES_MAX_S}] seconds, got {spec.execution_expires_after}",
                           param="execution_expires_after")
    if spec.resolution == "1080p" and refs:
        raise InvalidInput("`reference_image` mode does not support 1080p", param="resolution")
