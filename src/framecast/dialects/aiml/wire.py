"""The AI/ML API wire models: the per-model request schemas of ``POST /v2/video/generations``
and the generation object, fields in the vendor's order (research/api-dialects.md §4.1,
seeds 002/003).

Each documented model has its own schema with the vendor's defaults; a model id the vendor
does not list (an Ark id, an id from ``framecast.toml``) gets ``SeedanceAnyRequest``, the union
of every field with no defaults (the registry supplies them). Unknown keys are kept in
``model_extra`` and ignored, as the hosted API's schema validation strips them; the few that
would silently lose a client's intent are refused in ``translate.py``.

``duration`` arrives as an integer or, in the vendor's own examples, a string (``"5"``):
both are accepted. The camera flag is spelled ``camerafixed`` by the 1.0 schemas and
``camera_fixed`` by 1.5 pro (and by the newer lite-i2v page); every model accepts both.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

Resolution = Literal["480p", "720p", "1080p"]
AspectRatio = Literal["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21", "adaptive"]
Status = Literal["queued", "generating", "completed", "error"]


def _whole_number(value: Any) -> Any:
    """``"5"`` → 5 (the vendor's examples send strings); a boolean is never a number."""
    if isinstance(value, bool):
        raise ValueError("Expected number, received boolean")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
Duration10 = Annotated[Literal[5, 10], BeforeValidator(_whole_number)]
Duration15 = Annotated[Literal[4, 5, 6, 7, 8, 9, 10, 11, 12], BeforeValidator(_whole_number)]
DurationAny = Annotated[int, BeforeValidator(_whole_number)]


class _Request(BaseModel):
    """Shared config: unknown keys are kept (``model_extra``) and ignored."""

    model_config = ConfigDict(extra="allow")


# -- Seedance 1.0 -----------------------------------------------------------------------


class SeedanceLiteT2VRequest(_Request):
    """``bytedance/seedance-1-0-lite-t2v``: text only (an image field is refused)."""

    model: str
    prompt: str
    resolution: Resolution = "1080p"
    aspect_ratio: AspectRatio = "16:9"
    duration: Duration10 = 5
    watermark: bool = False
    seed: WholeNumber | None = None
    camerafixed: bool | None = None
    # Framecast: accepted beyond the vendor's schema
    camera_fixed: bool | None = None
    callback_url: str | None = None


class SeedanceProRequest(_Request):
    """``bytedance/seedance-1-0-pro-i2v``, ``-pro-t2v`` and ``-pro-fast``: an optional first
    (and last) frame."""

    model: str
    image_url: str | None = None
    prompt: str
    resolution: Resolution = "1080p"
    duration: Duration10 = 5
    watermark: bool = False
    seed: WholeNumber | None = None
    camerafixed: bool | None = None
    last_image_url: str | None = None
    # Framecast: accepted beyond the vendor's schema
    aspect_ratio: AspectRatio | None = None
    camera_fixed: bool | None = None
    callback_url: str | None = None


class SeedanceLiteI2VRequest(_Request):
    """``bytedance/seedance-1-0-lite-i2v``: ``image_url`` is required; 720p by default
    (seed 003, the vendor's current page)."""

    model: str
    image_url: str
    prompt: str
    resolution: Resolution = "720p"
    duration: Duration10 = 5
    seed: WholeNumber | None = None
    camera_fixed: bool | None = None
    watermark: bool = False
    # Framecast: accepted beyond the vendor's schema
    camerafixed: bool | None = None
    last_image_url: str | None = None
    aspect_ratio: AspectRatio | None = None
    callback_url: str | None = None


# -- Seedance 1.5 pro -------------------------------------------------------------------


class Seedance15ProRequest(_Request):
    """``bytedance/seedance-1-5-pro``: 4–12 s, 720p and 16:9 by default, audio on."""

    model: str
    prompt: str
    image_url: str | None = None
    last_image_url: str | None = None
    aspect_ratio: AspectRatio = "16:9"
    resolution: Resolution = "720p"
    duration: Duration15 = 5
    seed: WholeNumber | None = -1
    camera_fixed: bool | None = None
    watermark: bool = False
    generate_audio: bool = True
    # Framecast: accepted beyond the vendor's schema
    camerafixed: bool | None = None
    callback_url: str | None = None


# -- any other video model id ------------------------------------------------------------


class SeedanceAnyRequest(_Request):
    """A model id the vendor does not list: every field, defaults from the registry."""

    model: str
    prompt: str = ""
    image_url: str | None = None
    last_image_url: str | None = None
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    duration: DurationAny | None = None
    seed: WholeNumber | None = None
    camerafixed: bool | None = None
    camera_fixed: bool | None = None
    watermark: bool = False
    generate_audio: bool | None = None
    callback_url: str | None = None


VideoRequest = (SeedanceLiteT2VRequest | SeedanceProRequest | SeedanceLiteI2VRequest
                | Seedance15ProRequest | SeedanceAnyRequest)

SCHEMAS: dict[str, type[_Request]] = {
    "bytedance/seedance-1-0-lite-t2v": SeedanceLiteT2VRequest,
    "bytedance/seedance-1-0-pro-t2v": SeedanceProRequest,
    "bytedance/seedance-1-0-pro-i2v": SeedanceProRequest,
    "bytedance/seedance-1-0-pro-fast": SeedanceProRequest,
    "bytedance/seedance-1-0-lite-i2v": SeedanceLiteI2VRequest,
    "bytedance/seedance-1-5-pro": Seedance15ProRequest,
}


# -- the generation object (create and poll) ------------------------------------------------


class CreatedGeneration(BaseModel):
    """The create reply: ``{"id", "status": "queued"}``; ``generation_id`` repeats the id
    (the vendor's SDK reads either)."""

    id: str
    status: Status
    generation_id: str


class VideoFile(BaseModel):
    """Where the finished video can be downloaded (a signed URL)."""

    url: str


class GenerationError(BaseModel):
    """Why a generation ended in ``error``."""

    name: str
    message: str


class Usage(BaseModel):
    """``credits_used`` = the vendor's token count, floor(W × H × frames / 1024)."""

    credits_used: int
    usd_spent: float = 0.0


class Meta(BaseModel):
    """Additional details: usage once completed, plus Framecast's ``engine`` and
    ``progress`` (0–100)."""

    usage: Usage | None = None
    engine: str | None = None
    progress: int = 0


class Generation(BaseModel):
    """The poll reply of ``GET /v2/video/generations?generation_id=``."""

    id: str
    status: Status
    video: VideoFile | None = None
    error: GenerationError | None = None
    meta: Meta | None = None


# -- errors ---------------------------------------------------------------------------


class ErrorEnvelope(BaseModel):
    """Every non-2xx reply. ``statusCode`` is a string, as in the vendor's example;
    ``param`` (Framecast) names the request field at fault."""

    message: str
    path: str
    requestId: str  # noqa: N815 - the vendor's spelling
    statusCode: str  # noqa: N815
    timestamp: str
    param: str | None = None
