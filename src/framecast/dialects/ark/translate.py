"""Ark wire ⇄ Framecast core: requests become a ``VideoSpec`` / ``ImageSpec``, tasks become the
vendor's task and image objects.

Prompt flags are parsed in ``flags.py``. When a parameter is given both as a flag and as a
top-level JSON field, **the top-level field wins** (the vendor's newer documents recommend the
top-level form). JSON ``null`` means absent. Errors name the vendor's parameter: the
top-level field (``camera_fixed`` for ``--cf``), ``framespersecond`` for fps,
``content[i].image_url.url`` for an input image.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from framecast.core import sizes
from framecast.core.errors import (
    EngineFailed,
    FramecastError,
    InvalidInput,
    MissingInput,
)
from framecast.core.spec import ImageInput, ImageSpec, MediaInput, VideoSpec
from framecast.core.task import Task, TaskStatus
from framecast.dialects.ark import wire
from framecast.dialects.ark.flags import as_ratio, as_resolution, flag_value, parse_prompt_flags
from framecast.service.tasks import TaskService

FileUrl = Callable[[Task, str], str | None]

DIALECT = "ark"

VIDEO_FILE = "video.mp4"
LAST_FRAME_FILE = "last_frame.png"

ROLES: tuple[str, ...] = ("first_frame", "last_frame", "reference_image")
ARK_FPS = 24                       # the only frame rate the vendor documents for Ark
PRIORITY_MAX = 9
SAFETY_IDENTIFIER_MAX_CHARS = 64
MAX_INPUT_IMAGES = 14              # Seedream 4.5+: up to 14 reference images
TASK_TYPES: tuple[str, ...] = ("auto", "reference", "edit", "extend")
VIDEO_FORMATS: tuple[str, ...] = ("mp4",)
SERVICE_TIERS: tuple[str, ...] = ("default", "flex")
RESPONSE_FORMATS: tuple[str, ...] = ("url", "b64_json")
SEQUENTIAL_MODES: tuple[str, ...] = ("disabled", "auto")
IMAGE_OUTPUT_FORMATS: tuple[str, ...] = ("png", "jpeg")
OPTIMIZE_PROMPT_MODES: tuple[str, ...] = ("standard", "fast")
MAX_SET_IMAGES = 15                # sequential_image_generation_options.max_images
LIST_STATUSES: tuple[str, ...] = tuple(s.value for s in TaskStatus)


# -- create a video task ------------------------------------------------------------------


def video_spec_from_wire(req: wire.CreateTaskRequest) -> VideoSpec:
    """Build the canonical ``VideoSpec`` of a create request (raises ``InvalidInput`` naming
    the vendor's parameter). Range rules shared by every dialect are checked by the spec."""
    texts: list[str] = []
    images: list[ImageInput] = []
    media: list[MediaInput] = []
    draft_of = _draft_task_id(req)
    for index, item in enumerate(req.content):
        if isinstance(item, wire.TextContent):
            texts.append(item.text)
        elif isinstance(item, wire.ImageURLContent):
            images.append(_image_input(item, index))
        elif isinstance(item, wire.VideoURLContent | wire.AudioURLContent):
            media.append(_media_input(item, index))
    flags = parse_prompt_flags(" ".join(texts))
    if not flags.prompt and not images and not media and draft_of is None:
        raise MissingInput("`content` needs a text prompt, an `image_url`, `video_url` or "
                           "`audio_url` item", param="content")

    values: dict[str, Any] = {name: flag_value(flags, name) for name in flags.values}
    top_level: dict[str, Any] = {
        "resolution": (as_resolution(req.resolution, "`resolution`")
                       if req.resolution is not None else None),
        "ratio": as_ratio(req.ratio, "`ratio`") if req.ratio is not None else None,
        "duration": req.duration, "frames": req.frames, "seed": req.seed,
        "camera_fixed": req.camera_fixed, "watermark": req.watermark,
    }
    values.update({k: v for k, v in top_level.items() if v is not None})  # top level wins
    fps = values.pop("framespersecond", None)
    if fps is not None and fps != ARK_FPS:
        raise InvalidInput(f"`framespersecond` must be {ARK_FPS}, got {fps}",
                           param="framespersecond")

    _check_request_options(req)
    fields: dict[str, Any] = {
        **values,
        "return_last_frame": req.return_last_frame,
        "generate_audio": req.generate_audio,
        "service_tier": req.service_tier,
        "callback_url": req.callback_url,
        "execution_expires_after": req.execution_expires_after,
        "draft": req.draft,
        "draft_of": draft_of,
        "task_type": req.omni_reference_task_type,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    return _build(VideoSpec, model=req.model, prompt=flags.prompt, images=images, media=media,
                  fps=ARK_FPS, **fields)


def _draft_task_id(req: wire.CreateTaskRequest) -> str | None:
    """The draft a request renders in full: its one ``draft_task`` item, which must be the
    whole ``content`` (the draft's prompt, images and settings are reused)."""
    drafts = [(n, item) for n, item in enumerate(req.content)
              if isinstance(item, wire.DraftTaskContent)]
    if not drafts:
        return None
    index, item = drafts[0]
    if len(req.content) != 1:
        raise InvalidInput("a `draft_task` item must be the only item of `content` (the "
                           "draft's prompt and images are reused)", param="content")
    draft_id = (item.draft_task or {}).get("id")
    if not isinstance(draft_id, str) or not draft_id.strip():
        raise MissingInput("`draft_task.id` must name the draft task",
                           param=f"content[{index}].draft_task.id")
    if req.draft:
        raise InvalidInput("a draft cannot be made from a draft; leave `draft` out",
                           param="draft")
    return draft_id.strip()


def _media_input(item: wire.VideoURLContent | wire.AudioURLContent, index: int) -> MediaInput:
    """A ``video_url`` / ``audio_url`` item: a reference clip (role ``reference_video`` /
    ``reference_audio``, the default), fetched and checked when the task is created."""
    kind = "video" if isinstance(item, wire.VideoURLContent) else "audio"
    role = f"reference_{kind}"
    if item.role is not None and item.role != role:
        raise InvalidInput(f"content[{index}].role of a `{item.type}` item must be `{role}`, "
                           f"got {item.role!r}", param=f"content[{index}].role")
    param = f"content[{index}].{item.type}.url"
    url = (getattr(item, item.type) or {}).get("url")
    if not isinstance(url, str) or not url.strip():
        raise MissingInput(f"`{param}` is required", param=param)
    # (an asset id is refused, in words, when the task is created)
    if url[:8].lower() != "asset://" and not _is_http_url(url):
        raise InvalidInput(f"`{param}` must be an http(s) URL, got {_clip(url)!r}",
                           param=param)
    return MediaInput(role=role, url=url.strip(), param=param)  # type: ignore[arg-type]


def _image_input(item: wire.ImageURLContent, index: int) -> ImageInput:
    role = item.role or "first_frame"
    if role not in ROLES:
        raise InvalidInput(f"content[{index}].role must be one of {', '.join(ROLES)}, got "
                           f"{item.role!r}", param=f"content[{index}].role")
    param = f"content[{index}].image_url.url"
    _check_image_url(item.image_url.url, param)
    return ImageInput(role=role, url=item.image_url.url, param=param)  # type: ignore[arg-type]


def _check_image_url(url: str, param: str) -> None:
    """Only http(s) URLs and ``data:image/...`` URIs; the fetcher does the deep checks."""
    head = url[:64].lstrip().lower()     # a data URI may be megabytes: look at its head only
    if head.startswith("data:"):
        if not head.startswith("data:image/"):
            raise InvalidInput(f"`{param}` must be an image data URI (data:image/<format>;"
                               "base64,...)", param=param)
        return
    if not _is_http_url(url):
        raise InvalidInput(f"`{param}` must be an http(s) URL or a data:image/ URI, got "
                           f"{_clip(url)!r}", param=param)


def _is_http_url(url: str) -> bool:
    """Whether ``url`` has the shape of an http(s) URL (the fetcher does the deep checks)."""
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _check_request_options(req: wire.CreateTaskRequest) -> None:
    kind = req.omni_reference_task_type
    if kind is not None and kind not in TASK_TYPES:
        raise InvalidInput(f"`omni_reference_task_type` must be one of {', '.join(TASK_TYPES)}, "
                           f"got {kind!r}", param="omni_reference_task_type")
    if req.output_format is not None and req.output_format.lower() not in VIDEO_FORMATS:
        raise InvalidInput(f"`output_format` must be mp4 on this server (no mov), got "
                           f"{req.output_format!r}", param="output_format")
    if req.service_tier is not None and req.service_tier not in SERVICE_TIERS:
        raise InvalidInput(f"`service_tier` must be one of {', '.join(SERVICE_TIERS)}, got "
                           f"{req.service_tier!r}", param="service_tier")
    if req.priority is not None and not 0 <= req.priority <= PRIORITY_MAX:
        raise InvalidInput(f"`priority` must be within [0, {PRIORITY_MAX}], got {req.priority}",
                           param="priority")
    if (req.safety_identifier is not None
            and len(req.safety_identifier) > SAFETY_IDENTIFIER_MAX_CHARS):
        raise InvalidInput(f"`safety_identifier` must be at most {SAFETY_IDENTIFIER_MAX_CHARS} "
                           "characters", param="safety_identifier")
    if req.callback_url is not None and not _is_http_url(req.callback_url):
        raise InvalidInput(f"`callback_url` must be an http(s) URL, got "
                           f"{_clip(req.callback_url)!r}", param="callback_url")


# the prompt is part of Ark's `content`; the core's other names are renamed by the envelope
_SPEC_PARAMS = {"prompt": "content"}


def _build(cls: type[VideoSpec] | type[ImageSpec], **fields: Any) -> Any:
    """Construct a spec; a pydantic error (a length cap, a literal) becomes ``InvalidInput``."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "body"
        raise InvalidInput(f"`{name}`: {first['msg']}", param=_SPEC_PARAMS.get(name, name)) \
            from None


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# -- a video task on the wire ---------------------------------------------------------------


def task_to_wire(task: Task, file_url: FileUrl) -> wire.ContentGenerationTask:
    """Render a stored video task as the vendor's task object (§1.3)."""
    spec = task.spec
    succeeded = task.status == TaskStatus.SUCCEEDED
    frames_given = spec.get("frames") is not None
    content = usage = None
    if succeeded:
        content = wire.TaskContent(
            video_url=file_url(task, VIDEO_FILE),
            last_frame_url=file_url(task, LAST_FRAME_FILE) if spec.get("return_last_frame")
            else None)
        usage = wire.TaskUsage(completion_tokens=task.usage_tokens,
                               total_tokens=task.usage_tokens)
    return wire.ContentGenerationTask(
        id=task.id, model=task.model, status=task.status.value, error=task_error(task),
        content=content, usage=usage, created_at=int(task.created_at),
        updated_at=int(task.updated_at), seed=task.seed if task.seed is not None
        else spec.get("seed"), resolution=spec.get("resolution"), ratio=spec.get("ratio"),
        duration=None if frames_given else spec.get("duration"),
        frames=spec.get("frames") if frames_given else None,
        framespersecond=spec.get("fps"), service_tier=task.service_tier,
        execution_expires_after=spec.get("execution_expires_after"),
        generate_audio=spec.get("generate_audio"), draft=bool(spec.get("draft")),
        draft_task_id=task.id if spec.get("draft") else spec.get("draft_of"),
        camera_fixed=spec.get("camera_fixed"),
        watermark=spec.get("watermark"), return_last_frame=spec.get("return_last_frame"),
        engine=task.engine, progress=task_progress(task))


def task_dict(task: Task, file_url: FileUrl) -> dict[str, Any]:
    """The task object as JSON: absent values are left out, except ``error`` (always
    present, ``null`` while there is none)."""
    body = task_to_wire(task, file_url)
    data = body.model_dump(mode="json", exclude_none=True)
    return {k: data.get(k) for k in type(body).model_fields if k in data or k == "error"}


def webhook_body(task: Task, service: TaskService) -> dict[str, Any]:
    """The ``callback_url`` body: exactly the GET task object (``service.file_url`` signs
    the links)."""
    return task_dict(task, service.file_url)


def task_error(task: Task) -> wire.TaskError | None:
    """``error`` of a failed or expired task (``null`` otherwise, cancelled included)."""
    if task.status == TaskStatus.FAILED:
        return wire.TaskError(code=task.error_code or "InternalServiceError",
                              message=task.error_message or "The task failed.")
    if task.status == TaskStatus.EXPIRED:
        return wire.TaskError(
            code=task.error_code or "TaskExpired",
            message=task.error_message or "The task did not finish within "
            "`execution_expires_after` seconds.")
    return None


def task_progress(task: Task) -> int:
    """Progress as a whole percentage (100 once succeeded)."""
    if task.status == TaskStatus.SUCCEEDED:
        return 100
    return max(0, min(100, round(task.progress * 100)))


def list_filters(status: str | None, service_tier: str | None) -> dict[str, Any]:
    """Check the list filters; returns ``statuses``/``service_tier`` for ``TaskService.list``."""
    if status is not None and status not in LIST_STATUSES:
        raise InvalidInput(f"`filter.status` must be one of {', '.join(LIST_STATUSES)}, got "
                           f"{status!r}", param="filter.status")
    if service_tier is not None and service_tier not in SERVICE_TIERS:
        raise InvalidInput(f"`filter.service_tier` must be one of {', '.join(SERVICE_TIERS)}, "
                           f"got {service_tier!r}", param="filter.service_tier")
    return {"statuses": [status] if status else None, "service_tier": service_tier or None}


# -- images ---------------------------------------------------------------------------------


def image_spec_from_wire(req: wire.ImagesGenerateRequest) -> ImageSpec:
    """Build the canonical ``ImageSpec`` of a Seedream request. ``size: adaptive`` (SeedEdit)
    means the model's default size; ``size`` itself is checked against the model's own
    presets and pixel range when the task is created; ``sequential_image_generation: auto``
    asks for a set of up to ``max_images`` images."""
    if not req.prompt.strip():
        raise MissingInput("`prompt` must not be empty", param="prompt")
    if req.response_format is not None and req.response_format not in RESPONSE_FORMATS:
        raise InvalidInput(f"`response_format` must be one of {', '.join(RESPONSE_FORMATS)}, "
                           f"got {req.response_format!r}", param="response_format")
    sequential = _sequential(req)
    output_format = req.output_format.lower() if req.output_format is not None else None
    if output_format is not None and output_format not in IMAGE_OUTPUT_FORMATS:
        raise InvalidInput(f"`output_format` must be one of {', '.join(IMAGE_OUTPUT_FORMATS)}, "
                           f"got {req.output_format!r}", param="output_format")
    _check_optimize_prompt(req.optimize_prompt_options)
    size = req.size
    if size is not None and size.strip().lower() == "adaptive":
        size = None
    if size is not None:
        sizes.check_image_size_form(size)   # the model's presets and range: at create
    urls = [req.image] if isinstance(req.image, str) else list(req.image or [])
    if len(urls) > MAX_INPUT_IMAGES:
        raise InvalidInput(f"at most {MAX_INPUT_IMAGES} input images are allowed, got "
                           f"{len(urls)}", param="image")
    images = []
    for index, url in enumerate(urls):
        param = "image" if isinstance(req.image, str) else f"image[{index}]"
        _check_image_url(url, param)
        images.append(ImageInput(role="reference_image", url=url, param=param))
    fields = {"size": size, "seed": req.seed, "guidance_scale": req.guidance_scale,
              "watermark": req.watermark, "response_format": req.response_format,
              "output_format": output_format}
    return _build(ImageSpec, model=req.model, prompt=req.prompt, images=images,
                  sequential=sequential is not None, max_images=sequential or None,
                  **{k: v for k, v in fields.items() if v is not None})


def _sequential(req: wire.ImagesGenerateRequest) -> int | None:
    """None for one image; for ``sequential_image_generation: auto``, its ``max_images``
    (0 when not given: the set's size is then decided when the task is created)."""
    mode = req.sequential_image_generation
    if mode is not None and mode not in SEQUENTIAL_MODES:
        raise InvalidInput(f"`sequential_image_generation` must be one of "
                           f"{', '.join(SEQUENTIAL_MODES)}, got {mode!r}",
                           param="sequential_image_generation")
    options = req.sequential_image_generation_options
    max_images = options.max_images if options is not None else None
    param = "sequential_image_generation_options.max_images"
    if max_images is not None and mode != "auto":
        raise InvalidInput("`sequential_image_generation_options` applies only with "
                           "`sequential_image_generation: auto`", param=param)
    if max_images is not None and not 1 <= max_images <= MAX_SET_IMAGES:
        raise InvalidInput(f"`max_images` must be within [1, {MAX_SET_IMAGES}], got "
                           f"{max_images}", param=param)
    return (max_images or 0) if mode == "auto" else None


def _check_optimize_prompt(options: dict[str, Any] | None) -> None:
    mode = (options or {}).get("mode")
    if mode is not None and mode not in OPTIMIZE_PROMPT_MODES:
        raise InvalidInput(f"`optimize_prompt_options.mode` must be one of "
                           f"{', '.join(OPTIMIZE_PROMPT_MODES)}, got {mode!r}",
                           param="optimize_prompt_options.mode")


def image_output_names(task: Task) -> list[str]:
    """The task's image outputs, in the order the engine made them."""
    return [o.name for o in task.outputs if o.content_type.startswith("image/")]


def image_task_error(task: Task, wait_s: float) -> FramecastError:
    """The error to answer for an image task that did not succeed (or did not finish)."""
    if not task.terminal:
        return EngineFailed(f"the image was not generated within {wait_s:g} s",
                            code="RequestTimeout", task_id=task.id)
    code = task.error_code or "InternalServiceError"
    message = task.error_message or f"the image generation ended {task.status.value}"
    if code in (InvalidInput.code, MissingInput.code):
        return InvalidInput(message, code=code, param="image" if task.spec.get("images")
                            else "prompt", task_id=task.id)
    return EngineFailed(message, code=code, task_id=task.id)


def image_size(task: Task, name: str) -> str:
    """``WxH`` of the task's image output."""
    out = task.output(name)
    width = (out.width if out else None) or task.spec.get("width") or 0
    height = (out.height if out else None) or task.spec.get("height") or 0
    return f"{width}x{height}"


def image_data(task: Task, name: str, *, url: str | None, data: bytes | None) -> wire.ImageData:
    """One ``data`` item: the signed URL of output ``name``, or its bytes as base64."""
    b64 = base64.b64encode(data).decode("ascii") if data is not None else None
    out = task.output(name)
    fmt = out.content_type.removeprefix("image/") if out else None
    return wire.ImageData(url=None if b64 else url, b64_json=b64, size=image_size(task, name),
                          output_format=fmt)


def image_usage(task: Task, images: int) -> wire.ImageUsage:
    """Usage of ``images`` generated images (the task's tokens cover all of them)."""
    tokens = task.usage_tokens if images else 0
    return wire.ImageUsage(generated_images=images, output_tokens=tokens, total_tokens=tokens)


def images_response(task: Task, items: list[wire.ImageData]) -> wire.ImagesResponse:
    """The synchronous image response for a succeeded task: one item per image."""
    created = int(task.finished_at or task.updated_at or task.created_at)
    return wire.ImagesResponse(model=task.model, created=created, created_at=created,
                               data=items, usage=image_usage(task, len(items)))


def image_event(task: Task, index: int, item: wire.ImageData | None = None,
                error: FramecastError | None = None) -> wire.ImageStreamEvent:
    """One SSE event of a streamed generation: image ``index`` made (``item``), or failed."""
    created = int(task.updated_at or task.created_at)
    head = {"model": task.model, "created": created, "created_at": created,
            "image_index": index}
    if item is not None:
        return wire.ImageStreamEvent(type="image_generation.partial_succeeded", url=item.url,
                                     b64_json=item.b64_json, size=item.size, **head)
    assert error is not None
    return wire.ImageStreamEvent(type="image_generation.partial_failed",
                                 error=wire.TaskError(code=error.code, message=error.message),
                                 **head)


def completed_event(task: Task, sizes_made: list[str]) -> wire.ImageStreamEvent:
    """The last SSE event: the usage of the images made (``WxH`` each)."""
    created = int(task.finished_at or task.updated_at or task.created_at)
    tokens = sum(int(w) * int(h) for w, h in (size.split("x") for size in sizes_made)) // 256
    return wire.ImageStreamEvent(
        type="image_generation.completed", model=task.model, created=created,
        created_at=created, usage=wire.ImageUsage(generated_images=len(sizes_made),
                                                  output_tokens=tokens, total_tokens=tokens))
