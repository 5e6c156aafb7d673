"""The native API's request and response models (``/framecast/v1``), as OpenAPI shows them.

Requests forbid unknown fields, so a misspelt option is a 400 naming it rather than a
silently ignored wish. Times are unix seconds (floats); ``progress`` is a percentage.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
Role = Literal["first_frame", "last_frame", "reference_image"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- requests ------------------------------------------------------------------------------

class ImageRef(_Request):
    """One input image: an http(s) URL or a ``data:image/...;base64,`` URI, and its role."""

    url: str = Field(description="http(s) URL or data: URI of the image.")
    role: Role = Field(default="first_frame", description="What the image is for.")


class VideoCreate(_Request):
    """``POST /framecast/v1/videos``: an image-to-video (or text-to-video) task.

    Images may be given as ``images`` (each with a role) or with the shortcuts
    ``first_frame``, ``last_frame`` and ``reference_images``; both forms may be combined."""

    model: str | None = Field(default=None, description="Model id or alias; default "
                                                        "`seedance-1-0-pro`.")
    prompt: str = Field(default="", description="What happens (camera moves: push in, "
                                                "pan left, orbit, ...).")
    images: list[ImageRef] = Field(default_factory=list)
    first_frame: str | None = Field(default=None, description="URL or data URI.")
    last_frame: str | None = Field(default=None, description="URL or data URI (needs "
                                                              "first_frame).")
    reference_images: list[str] = Field(default_factory=list,
                                        description="1–4 URLs or data URIs.")
    resolution: Literal["480p", "720p", "1080p"] | None = None
    ratio: Literal["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21", "adaptive"] | None = None
    duration: int | None = Field(default=None, description="Seconds, 2–12 (or give frames).")
    frames: int | None = Field(default=None, description="25+4n, 29–289 (or give duration).")
    fps: int | None = Field(default=None, description="24 (default) or 16.")
    seed: int | None = Field(default=None, description="-1 or absent: random.")
    camera_fixed: bool | None = None
    watermark: bool | None = None
    generate_audio: bool | None = None
    return_last_frame: bool | None = None
    service_tier: Literal["default", "flex"] | None = None
    callback_url: str | None = Field(default=None, description="Webhook URL (the task JSON "
                                                               "is POSTed when it ends).")
    execution_expires_after: int | None = Field(default=None,
                                                description="Seconds, 3600–259200.")


class ImageCreate(_Request):
    """``POST /framecast/v1/images``: a text-to-image task (asynchronous, like videos)."""

    model: str | None = Field(default=None, description="Model id or alias; default "
                                                        "`seedream-3-0-t2i`.")
    prompt: str
    size: str | None = Field(default=None, description="`WxH` or a preset (1K, 2K, 4K).")
    seed: int | None = None
    guidance_scale: float | None = Field(default=None, description="1–10.")
    watermark: bool | None = None
    images: list[str] = Field(default_factory=list, description="Reference images: URLs or "
                                                                "data URIs.")
    callback_url: str | None = None


# ---- responses -----------------------------------------------------------------------------

class ErrorBody(BaseModel):
    """What went wrong: a stable ``code``, a sentence, and the request field at fault."""

    code: str
    message: str
    param: str | None = None


class ErrorEnvelope(BaseModel):
    """Every native error response."""

    error: ErrorBody


class TaskError(BaseModel):
    """Why a task failed or expired."""

    code: str
    message: str


class Output(BaseModel):
    """One output file of a task, with a signed, expiring URL."""

    name: str = Field(description="`video.mp4`, `image.png`, `last_frame.png`.")
    url: str | None
    content_type: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    fps: int | None = None
    has_audio: bool = False


class NativeTask(BaseModel):
    """A task as the native API shows it (any dialect's task, for its owner)."""

    id: str
    kind: Literal["video", "image"]
    model: str
    engine: str
    dialect: str = Field(description="The API that created the task.")
    status: Status
    progress: float = Field(description="Percent done, 0–100.")
    step: int
    total_steps: int
    eta_s: float | None = Field(description="Estimated seconds left (null when unknown).")
    seed: int | None
    attempt: int
    cancel_requested: bool
    service_tier: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: TaskError | None
    outputs: list[Output]
    spec: dict[str, Any]
    usage_tokens: int
    engine_seconds: float
    engine_info: dict[str, Any] | None = Field(
        default=None, description="What the engine did, once the task succeeded: the motion "
        "engine's mode, camera moves (and those it could not apply), a diffusers engine's "
        "steps, scheduler and retiming.")


class TaskList(BaseModel):
    """A page of the caller's tasks, newest first."""

    total: int
    items: list[NativeTask]


class DeletedTask(BaseModel):
    """What ``DELETE`` answers: the id, and the status the task had when it was deleted."""

    id: str
    deleted: bool = True
    status: Status


class ModelCapabilities(BaseModel):
    """What a model's engine accepts."""

    kinds: list[str]
    roles: list[str]
    max_reference_images: int
    audio: bool
    fps: list[int]
    resolutions: list[str]


class ModelInfo(BaseModel):
    """One configured model."""

    id: str
    aliases: list[str]
    kind: Literal["video", "image"]
    engine: str
    size_family: str
    default_resolution: str | None
    resolutions: list[str]
    default_size: str | None
    capabilities: ModelCapabilities | None = Field(description="Null when the engine cannot "
                                                               "be imported here.")
    weights: str | None
    weights_present: bool


class ModelList(BaseModel):
    """``GET /framecast/v1/models``."""

    data: list[ModelInfo]


class UsageGroup(BaseModel):
    """Task counts, tokens and engine time of one group of tasks."""

    tasks: dict[str, int] = Field(description="Count per status, and `total`.")
    tokens: int = Field(description="Usage tokens of the succeeded tasks.")
    engine_seconds: float


class ModelUsage(UsageGroup):
    """Usage of one model (as the client named it) and kind."""

    model: str
    kind: str


class KindUsage(UsageGroup):
    """Usage of one kind."""

    kind: str


class Usage(UsageGroup):
    """``GET /framecast/v1/usage``: the calling key's tasks created in ``[since, until)``."""

    key_id: str
    since: float
    until: float
    by_model: list[ModelUsage]
    by_kind: list[KindUsage]
