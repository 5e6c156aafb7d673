"""The Ark wire models: exactly what the vendor's clients send and read, in the vendor's order.

Requests are lax where the official SDKs are: every optional key may arrive as JSON ``null``
(the SDKs send all of them, research/api-dialects.md §2.2), which means "absent"; unknown keys
are ignored. Values that need a friendly, vendor-named error (``resolution``, ``ratio``,
``role`` …) are plain strings here and checked in ``translate.py``.

Responses carry the vendor's fields first, then Framecast's extras (``engine``, ``progress``).
The SDK response models are non-strict, so extra fields reach users as attributes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# -- create a video task (POST /contents/generations/tasks) ------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ImageURL(_Wire):
    """``image_url`` of a content item: an http(s) URL or ``data:image/<fmt>;base64,...``."""

    url: str


class TextContent(_Wire):
    """The prompt, with optional ``--flag value`` parameters at its end."""

    type: Literal["text"]
    text: str


class ImageURLContent(_Wire):
    """An input image; ``role`` is ``first_frame`` (the default), ``last_frame`` or
    ``reference_image``."""

    type: Literal["image_url"]
    image_url: ImageURL
    role: str | None = None


class VideoURLContent(_Wire):
    """A reference video (Seedance 2.x): ``{"url": …}``, role ``reference_video``."""

    type: Literal["video_url"]
    video_url: dict[str, Any] | None = None
    role: str | None = None


class AudioURLContent(_Wire):
    """A reference audio clip (Seedance 2.x): ``{"url": …}``, role ``reference_audio``."""

    type: Literal["audio_url"]
    audio_url: dict[str, Any] | None = None
    role: str | None = None


class DraftTaskContent(_Wire):
    """A draft task to render in full (Seedance 1.5 pro / 2.5 draft mode):
    ``{"id": "cgt-…"}``; the only item of its request's ``content``."""

    type: Literal["draft_task"]
    draft_task: dict[str, Any] | None = None


ContentItem = Annotated[
    TextContent | ImageURLContent | VideoURLContent | AudioURLContent | DraftTaskContent,
    Field(discriminator="type"),
]
CONTENT_TYPES: tuple[str, ...] = ("text", "image_url", "video_url", "audio_url", "draft_task")


class CreateTaskRequest(_Wire):
    """Body of ``POST /api/v3/contents/generations/tasks`` (the SDKs' key order)."""

    model: str
    content: list[ContentItem]
    safety_identifier: str | None = None
    callback_url: str | None = None
    return_last_frame: bool | None = None
    service_tier: str | None = None
    execution_expires_after: int | None = None
    priority: int | None = None
    generate_audio: bool | None = None
    draft: bool | None = None                    # a 480p draft (1.5 pro, 2.5)
    camera_fixed: bool | None = None
    watermark: bool | None = None
    seed: int | None = None
    resolution: str | None = None
    ratio: str | None = None
    duration: int | None = None
    frames: int | None = None
    tools: list[dict[str, Any]] | None = None    # accepted, ignored (Volcengine 2.5 series)
    output_format: str | None = None             # mp4 (mov is refused)
    omni_reference_task_type: str | None = None  # auto | reference | edit | extend (2.x)


class CreateTaskResponse(BaseModel):
    """``{"id": "cgt-..."}``, plus the caller's ``safety_identifier`` when one was sent."""

    id: str
    safety_identifier: str | None = None


# -- a video task (GET /contents/generations/tasks/{id}) ---------------------------------


class TaskError(BaseModel):
    """Why a task failed (or expired)."""

    code: str
    message: str


class TaskContent(BaseModel):
    """Signed links to the task's outputs."""

    video_url: str | None = None
    last_frame_url: str | None = None


class TaskUsage(BaseModel):
    """Tokens billed by the vendor's formula: floor(W × H × frames / 1024)."""

    completion_tokens: int
    total_tokens: int


class ContentGenerationTask(BaseModel):
    """The task object of research/api-dialects.md §1.3, plus ``engine`` and ``progress``."""

    id: str
    model: str
    status: str
    error: TaskError | None = None
    content: TaskContent | None = None
    usage: TaskUsage | None = None
    created_at: int
    updated_at: int
    seed: int | None = None
    resolution: str | None = None
    ratio: str | None = None
    duration: int | None = None
    frames: int | None = None
    framespersecond: int | None = None
    service_tier: str | None = None
    execution_expires_after: int | None = None
    generate_audio: bool | None = None
    draft: bool = False
    draft_task_id: str | None = None   # a draft: its own id; a final: the draft it renders
    camera_fixed: bool | None = None
    watermark: bool | None = None
    return_last_frame: bool | None = None
    engine: str | None = None      # Framecast: the engine that serves the model
    progress: int = 0              # Framecast: 0-100


class ListTasksResponse(BaseModel):
    """A page of tasks, newest first, and how many match in all."""

    total: int
    items: list[ContentGenerationTask]


# -- images (POST /images/generations) --------------------------------------------------


class SequentialImageGenerationOptions(_Wire):
    """Image-set options (Seedream 4.x/5.0): at most ``max_images`` images, 1–15."""

    max_images: int | None = None


class ImagesGenerateRequest(_Wire):
    """Body of ``POST /api/v3/images/generations`` (the SDK's key order)."""

    model: str
    prompt: str
    image: str | list[str] | None = None
    response_format: str | None = None
    size: str | None = None
    seed: int | None = None
    guidance_scale: float | None = None
    watermark: bool | None = None
    optimize_prompt: bool | None = None                     # checked; prompts run as written
    optimize_prompt_options: dict[str, Any] | None = None   # checked; prompts run as written
    sequential_image_generation: str | None = None
    sequential_image_generation_options: SequentialImageGenerationOptions | None = None
    tools: list[dict[str, Any]] | None = None               # accepted, ignored
    output_format: str | None = None                        # png | jpeg
    layer_decomposition: Any = None                         # accepted, ignored
    stream: bool | None = None


class ImageData(BaseModel):
    """One generated image: a signed ``url`` or the file as ``b64_json``, its size and
    format (``png`` | ``jpeg``)."""

    url: str | None = None
    b64_json: str | None = None
    size: str
    output_format: str | None = None


class ImageUsage(BaseModel):
    """Image usage: the images made, and tokens = floor(Σ W × H / 256)."""

    generated_images: int
    output_tokens: int
    total_tokens: int


class ImagesResponse(BaseModel):
    """The synchronous image response. ``created`` is the documented name; the SDK model
    reads ``created_at``, so both are sent."""

    model: str
    created: int
    created_at: int
    data: list[ImageData]
    usage: ImageUsage


class ImageStreamEvent(BaseModel):
    """One SSE event of a streamed image generation (``type`` is also the SSE event name)."""

    type: str
    model: str
    created: int
    created_at: int
    image_index: int | None = None
    url: str | None = None
    b64_json: str | None = None
    size: str | None = None
    error: TaskError | None = None
    usage: ImageUsage | None = None


# -- errors ----------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """What the SDKs read into ``ArkAPIError.code/.message/.param/.type``."""

    code: str
    message: str
    param: str | None = None
    type: str


class ErrorEnvelope(BaseModel):
    """``{"error": {...}}`` on every non-2xx Ark response."""

    error: ErrorBody
