"""AI/ML API wire ⇄ Framecast core: a request body becomes a ``VideoSpec``; a task (from any
dialect) becomes the vendor's generation object.

Per-model rules (research/api-dialects.md §4.1, seeds 002/003):

* the schema is chosen by ``model``; a documented model gets its own fields and defaults
  (1.0: 1080p, lite-i2v 720p, ``duration`` 5 | 10; 1.5 pro: 720p, 16:9, 4–12 s, audio on);
  any other registry id gets every field and the registry's defaults;
* ``duration`` may be a string (``"5"``); both camera spellings are accepted everywhere;
* unknown keys are ignored, as the hosted API does — except image fields on the text-only
  ``seedance-1-0-lite-t2v`` (400 naming the field: ignoring them would drop the input);
* without ``aspect_ratio`` an image-to-video request follows the image (``adaptive``), as the
  vendor's sample outputs do, except on 1.5 pro whose schema defaults to 16:9;
* a documented default resolution the configured engine does not offer falls back to the
  registry's default, so a client that sent no ``resolution`` is never refused for it.

Status: queued → ``queued``; running → ``generating``; succeeded → ``completed``; failed,
cancelled and expired → ``error`` with ``error.name``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from framecast.core import sizes
from framecast.core.errors import InvalidInput, MissingInput
from framecast.core.spec import ImageInput, VideoSpec, check_seed, one_spelling
from framecast.core.task import Task, TaskStatus
from framecast.dialects.aiml import wire
from framecast.service.tasks import TaskService

FileUrl = Callable[[Task, str], str | None]

DIALECT = "aiml"
VIDEO_FILE = "video.mp4"
TEXT_ONLY_MODELS = frozenset({"bytedance/seedance-1-0-lite-t2v"})
IMAGE_FIELDS: tuple[str, ...] = ("image_url", "last_image_url")

STATUSES: dict[TaskStatus, str] = {
    TaskStatus.QUEUED: "queued",
    TaskStatus.RUNNING: "generating",
    TaskStatus.SUCCEEDED: "completed",
    TaskStatus.FAILED: "error",
    TaskStatus.CANCELLED: "error",
    TaskStatus.EXPIRED: "error",
}
_MISSING_TYPES = frozenset({"missing", "missing_argument", "missing_keyword_argument"})


# -- a create request -------------------------------------------------------------------


def parse_request(data: Any) -> wire.VideoRequest:
    """Validate a JSON body against the schema of its ``model`` (``InvalidInput`` naming the
    field, in the vendor's zod style, when it does not fit)."""
    if not isinstance(data, dict):
        raise InvalidInput("Expected object, received " + type(data).__name__, param="body")
    model = data.get("model")
    if model is None:
        raise MissingInput("Required", param="model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput(f"Expected a model id string, received {model!r}", param="model")
    schema = wire.SCHEMAS.get(model.strip().lower(), wire.SeedanceAnyRequest)
    try:
        return schema.model_validate(data)   # type: ignore[return-value]
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first["loc"]) or "body"
    if first["type"] in _MISSING_TYPES:
        return MissingInput("Required", param=param)
    return InvalidInput(f"{first['msg']}, received {_clip(repr(first.get('input')))}",
                        param=param)


def video_spec_from_wire(req: wire.VideoRequest,
                         resolutions: Sequence[str] | None = None) -> VideoSpec:
    """Build the canonical ``VideoSpec``. ``resolutions`` are those the configured engine
    offers (a documented default outside them falls back to the registry's default)."""
    model = req.model.strip()
    extra = req.model_extra or {}
    if model.lower() in TEXT_ONLY_MODELS:
        for name in IMAGE_FIELDS:
            if extra.get(name) is not None:
                raise InvalidInput(f"`{name}` is not supported by the text-to-video model "
                                   f"`{model}` (use bytedance/seedance-1-0-lite-i2v)",
                                   param=name)
    first: str | None = declared(req, "image_url")
    last: str | None = declared(req, "last_image_url")
    if last is not None and first is None:
        raise InvalidInput("`last_image_url` needs `image_url` (the first frame)",
                           param="last_image_url")
    images = []
    for role, url, param in (("first_frame", first, "image_url"),
                             ("last_frame", last, "last_image_url")):
        if url is not None:
            check_image_url(url, param)
            images.append(ImageInput(role=role, url=url, param=param))  # type: ignore[arg-type]
    if not req.prompt.strip() and not images:
        raise MissingInput("`prompt` must not be empty without an `image_url`", param="prompt")

    resolution = req.resolution
    if ("resolution" not in req.model_fields_set and resolutions is not None
            and resolution not in resolutions):
        resolution = None
    if isinstance(req, wire.SeedanceAnyRequest) and req.duration is not None:
        sizes.check_duration(req.duration)
    check_seed(req.seed)
    if req.callback_url is not None:
        check_callback_url(req.callback_url)
    fields: dict[str, Any] = {
        "resolution": resolution, "ratio": declared(req, "aspect_ratio"),
        "duration": req.duration, "seed": req.seed, "watermark": req.watermark,
        "camera_fixed": camera_fixed(req), "generate_audio": declared(req, "generate_audio"),
        "callback_url": req.callback_url,
    }
    return _build(model=model, prompt=req.prompt.strip(), images=images,
                  **{k: v for k, v in fields.items() if v is not None})


def camera_fixed(req: wire.VideoRequest) -> bool | None:
    """``camera_fixed`` or ``camerafixed`` (the same flag, two spellings; 400 if they
    disagree)."""
    return one_spelling({name: declared(req, name) for name in ("camera_fixed", "camerafixed")},
                        param="camera_fixed")


def declared(req: wire.VideoRequest, name: str) -> Any:
    """The value of a field the model's schema declares (``None`` for an undeclared key,
    which pydantic would otherwise return from ``model_extra``)."""
    return getattr(req, name) if name in type(req).model_fields else None


def check_image_url(url: str, param: str) -> None:
    """Only http(s) URLs and ``data:image/...`` URIs; the fetcher does the deep checks."""
    head = url[:64].lstrip().lower()
    if head.startswith("data:"):
        if not head.startswith("data:image/"):
            raise InvalidInput("must be an image data URI (data:image/<format>;base64,...)",
                               param=param)
        return
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"Invalid url, received {_clip(url)!r}", param=param)


def check_callback_url(url: str) -> None:
    """A webhook target must be an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"Invalid url, received {_clip(url)!r}", param="callback_url")


def _build(**fields: Any) -> VideoSpec:
    try:
        return VideoSpec(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "body"
        raise InvalidInput(first["msg"], param=name) from None   # the envelope renames it


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# -- a task on the wire -----------------------------------------------------------------


def created(task: Task) -> wire.CreatedGeneration:
    """The create reply."""
    return wire.CreatedGeneration(id=task.id, status=STATUSES[task.status],
                                  generation_id=task.id)


def generation(task: Task, file_url: FileUrl) -> wire.Generation:
    """Render a video task (created through any dialect) as the vendor's generation object."""
    succeeded = task.status == TaskStatus.SUCCEEDED
    url = file_url(task, VIDEO_FILE) if succeeded else None
    usage = wire.Usage(credits_used=task.usage_tokens) if succeeded else None
    return wire.Generation(
        id=task.id, status=STATUSES[task.status],
        video=wire.VideoFile(url=url) if url else None, error=generation_error(task),
        meta=wire.Meta(usage=usage, engine=task.engine, progress=progress(task)))


def generation_error(task: Task) -> wire.GenerationError | None:
    """``error`` of a generation that ended without a video."""
    if task.status == TaskStatus.FAILED:
        return wire.GenerationError(name=task.error_code or "InternalServiceError",
                                    message=task.error_message or "The generation failed.")
    if task.status == TaskStatus.CANCELLED:
        return wire.GenerationError(name=task.error_code or "Cancelled",
                                    message=task.error_message
                                    or "The generation was cancelled.")
    if task.status == TaskStatus.EXPIRED:
        return wire.GenerationError(name=task.error_code or "TaskExpired",
                                    message=task.error_message or "The generation did not "
                                    "finish within its execution deadline.")
    return None


def progress(task: Task) -> int:
    """Progress as a whole percentage (100 once completed)."""
    if task.status == TaskStatus.SUCCEEDED:
        return 100
    return max(0, min(100, round(task.progress * 100)))


def webhook_body(task: Task, service: TaskService) -> dict[str, Any]:
    """The body of a webhook for a task created through this dialect: the generation object,
    exactly as ``GET /v2/video/generations`` returns it."""
    return generation(task, service.file_url).model_dump(mode="json")
