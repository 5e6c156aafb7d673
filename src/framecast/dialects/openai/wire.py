"""The OpenAI wire models: the videos API of ``openai`` 3.54.0 (research/api-dialects.md §5)
and the images API, fields in the vendor's order, Framecast's extras after them.

Create bodies arrive as multipart form fields (the SDK always sends multipart, so every value
is a string: ``"4"``, ``"true"``) or as JSON; the models are lax where that needs it (digit
strings are numbers, ``"true"``/``"false"`` are booleans). Unknown keys are ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

Resolution = Literal["480p", "720p", "1080p"]
Ratio = Literal["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21", "adaptive"]
VideoStatus = Literal["queued", "in_progress", "completed", "failed"]


def _whole_number(value: Any) -> Any:
    """``"4"`` → 4 (multipart fields are strings); a boolean is never a number."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


def _listed(value: Any) -> Any:
    """One multipart value where a list is expected becomes a one-item list."""
    return [value] if isinstance(value, str) else value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
UrlList = Annotated[list[str], BeforeValidator(_listed)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- videos --------------------------------------------------------------------------


class InputReference(_Wire):
    """``input_reference`` as an object: ``{"image_url": "https://… | data:image/…"}``
    (``file_id`` is refused: this server has no files API)."""

    image_url: str | None = None
    file_id: str | None = None


class VideoCreateRequest(_Wire):
    """Body of ``POST /v1/videos``; an uploaded ``input_reference`` file arrives here as a
    ``data:image/<fmt>;base64,`` URI."""

    prompt: str
    input_reference: str | InputReference | None = None
    model: str | None = None
    seconds: WholeNumber | None = None
    size: str | None = None
    # Seedance fields (the SDK's extra_body), in Ark's order
    resolution: Resolution | None = None
    ratio: Ratio | None = None
    camera_fixed: bool | None = None
    seed: WholeNumber | None = None
    watermark: bool | None = None
    return_last_frame: bool | None = None
    last_frame_url: str | None = None
    reference_image_urls: UrlList | None = None
    frames: WholeNumber | None = None
    fps: WholeNumber | None = None
    service_tier: Literal["default", "flex"] | None = None
    generate_audio: bool | None = None
    callback_url: str | None = None


class VideoError(BaseModel):
    """Why a video failed (``code`` ``cancelled`` / ``expired`` for those endings)."""

    code: str
    message: str


class Video(BaseModel):
    """The video job object, plus Framecast's extras (``engine``, ``seed``, ``resolution``,
    ``ratio``, ``camera_fixed``)."""

    id: str
    object: Literal["video"] = "video"
    model: str
    status: VideoStatus
    progress: int
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    prompt: str | None = None
    size: str
    seconds: str
    remixed_from_video_id: str | None = None
    error: VideoError | None = None
    # Framecast
    engine: str | None = None
    seed: int | None = None
    resolution: str | None = None
    ratio: str | None = None
    camera_fixed: bool | None = None


class VideoList(BaseModel):
    """A cursor page: the SDK follows ``after=last_id`` while ``has_more``."""

    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class VideoDeleted(BaseModel):
    """The reply of ``DELETE /v1/videos/{id}``."""

    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True


# -- images (OpenAI and AI/ML API fields, one handler) ------------------------------------


class ImageSize(_Wire):
    """AI/ML ``image_size`` as an object."""

    width: WholeNumber
    height: WholeNumber


class ImageGenerateRequest(_Wire):
    """Body of ``POST /v1/images/generations``: the OpenAI fields, then the AI/ML API
    Seedream fields. ``quality``, ``style``, ``user``, ``background``, ``moderation``,
    ``output_compression``, ``enable_safety_checker`` and ``sync_mode`` are accepted and
    ignored."""

    prompt: str
    model: str | None = None
    n: WholeNumber | None = None
    quality: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    size: str | None = None
    style: str | None = None
    user: str | None = None
    background: str | None = None
    moderation: str | None = None
    output_compression: int | None = None
    output_format: str | None = None
    stream: bool | None = None
    # AI/ML API (Seedream)
    image_size: str | ImageSize | None = None
    seed: WholeNumber | None = None
    guidance_scale: float | None = None
    watermark: bool | None = None
    num_images: WholeNumber | None = None
    image_urls: UrlList | None = None
    image: str | list[str] | None = None
    enable_safety_checker: bool | None = None
    sync_mode: bool | None = None


class ImageItem(BaseModel):
    """One image: a signed ``url`` or the PNG as ``b64_json``."""

    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImageUsage(BaseModel):
    """AI/ML-style usage: tokens = W × H / 256."""

    credits_used: int


class ImageMeta(BaseModel):
    """``meta`` as the AI/ML API reports it."""

    usage: ImageUsage


class ImagesResponse(BaseModel):
    """What both SDKs read: ``created`` + ``data`` (OpenAI), ``data[i].url`` + ``meta``
    (AI/ML)."""

    created: int
    data: list[ImageItem]
    meta: ImageMeta


# -- errors ----------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """What the SDK reads into ``APIError.message/.type/.param/.code``."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorEnvelope(BaseModel):
    """``{"error": {...}}`` on every non-2xx reply."""

    error: ErrorBody
