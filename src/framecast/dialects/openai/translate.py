"""OpenAI videos wire ⇄ Framecast core: a create body becomes a ``VideoSpec``; a video task
(from any dialect) becomes the vendor's ``Video`` object.

Decisions (docs/openai.md):

* ``model``: absent, ``sora-2``, ``sora-2-pro`` (or any ``sora…`` name) → ``seedance-1-5-pro``,
  whose size family holds Sora's own sizes exactly (1280×720, 720×1280) and which takes text
  and image input; any other id is looked up in the registry.
* ``size`` ``WxH`` → the resolution × ratio of the model's size family with exactly that pixel
  size; otherwise the resolution nearest the short side (480 / 720 / 1080; 1024 → 1080p) and
  the ratio nearest the aspect. Explicit ``resolution`` / ``ratio`` fields win over ``size``.
  Without any of them the model's defaults apply (720p; ``adaptive`` with an image, else
  16:9). The reported ``size`` is the exact output size.
* ``seconds`` → ``duration`` (2–12; Sora's 4 / 8 / 12 fit); absent → the Seedance default 5.
* ``input_reference`` (file, URL, data URI or ``{"image_url"}``) is the first frame;
  ``last_frame_url`` a last frame; ``reference_image_urls`` 1–4 reference images (not with
  the other two).

Status: queued → ``queued``, running → ``in_progress``, succeeded → ``completed``; failed,
cancelled and expired → ``failed`` with ``error.code`` (``cancelled``, ``expired`` or the
failure's code).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from framecast.core import sizes
from framecast.core.errors import InvalidInput, MissingInput
from framecast.core.spec import MAX_REFERENCE_IMAGES, ImageInput, VideoSpec, check_seed
from framecast.core.task import Task, TaskStatus
from framecast.dialects.openai import wire
from framecast.dialects.openai.envelope import error_code
from framecast.service.registry import Registry
from framecast.service.tasks import TaskService

FileUrl = Callable[[Task, str], str | None]

DIALECT = "openai"
DEFAULT_VIDEO_MODEL = "seedance-1-5-pro"
VIDEO_FILE = "video.mp4"
LAST_FRAME_FILE = "last_frame.png"
SIZE_SIDE_MAX_PX = 8192
RESOLUTION_SHORT_SIDES: dict[str, int] = {"480p": 480, "720p": 720, "1080p": 1080}

STATUSES: dict[TaskStatus, str] = {
    TaskStatus.QUEUED: "queued",
    TaskStatus.RUNNING: "in_progress",
    TaskStatus.SUCCEEDED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "failed",
    TaskStatus.EXPIRED: "failed",
}
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX*×]\s*(\d{1,5})\s*$")
_MISSING_TYPES = frozenset({"missing", "missing_argument", "missing_keyword_argument"})


# -- create ---------------------------------------------------------------------------


def parse_create(data: dict[str, Any]) -> wire.VideoCreateRequest:
    """Validate a create body (``InvalidInput`` naming the field when it does not fit)."""
    return parse(wire.VideoCreateRequest, data)


def parse(model: type[Any], data: dict[str, Any]) -> Any:
    """``model.model_validate(data)`` with pydantic's first error as ``InvalidInput``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # a union (``str | InputReference``) reports one error per member: the deepest one
        # names the field the client meant
        first = max((e for e in errors if e["loc"][:1] == errors[0]["loc"][:1]),
                    key=lambda e: len(e["loc"]))
        param = field_path(first["loc"])
        if first["type"] in _MISSING_TYPES:
            raise MissingInput(f"Missing required parameter: '{param}'.", param=param) from None
        raise InvalidInput(f"Invalid value for '{param}': {first['msg']}.", param=param) \
            from None


def field_path(loc: tuple[Any, ...]) -> str:
    """``("reference_image_urls", 1)`` → ``reference_image_urls[1]``; union member tags
    (``str``, ``InputReference``) are dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part[:1].isupper() or part in ("str", "list[str]"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def video_model(model: str | None) -> str:
    """The Seedance model for a requested id (Sora names and no name → the default)."""
    name = (model or "").strip()
    if not name or name.lower().startswith("sora"):
        return DEFAULT_VIDEO_MODEL
    return name


def video_spec_from_wire(req: wire.VideoCreateRequest, registry: Registry) -> VideoSpec:
    """Build the canonical ``VideoSpec`` of a create request."""
    model = video_model(req.model)
    entry = registry.resolve(model, kind="video")
    images_in = video_images(req)
    if not req.prompt.strip() and not images_in:
        raise MissingInput("'prompt' must not be empty without an 'input_reference'.",
                           param="prompt")
    resolution = ratio = None
    if req.size is not None:
        resolution, ratio = size_to_resolution_ratio(req.size, entry.size_family)
    resolution = req.resolution or resolution
    ratio = req.ratio or ratio
    if req.seconds is not None and not (
            sizes.DURATION_MIN_S <= req.seconds <= sizes.DURATION_MAX_S):
        raise InvalidInput(f"Invalid value for 'seconds': must be a whole number of seconds in "
                           f"[{sizes.DURATION_MIN_S}, {sizes.DURATION_MAX_S}], got "
                           f"{req.seconds}.", param="seconds")
    if req.frames is not None:
        if req.seconds is not None:
            raise InvalidInput("'frames' and 'seconds' are mutually exclusive.", param="frames")
        sizes.check_frames(req.frames)
    if req.fps is not None and req.fps not in sizes.FPS_CHOICES:
        raise InvalidInput(f"Invalid value for 'fps': must be one of 24, 16, got {req.fps}.",
                           param="fps")
    check_seed(req.seed)
    if req.callback_url is not None:
        check_url(req.callback_url, "callback_url", data_ok=False)
    fields: dict[str, Any] = {
        "resolution": resolution, "ratio": ratio, "duration": req.seconds, "frames": req.frames,
        "fps": req.fps, "seed": req.seed, "camera_fixed": req.camera_fixed,
        "watermark": req.watermark, "return_last_frame": req.return_last_frame,
        "generate_audio": req.generate_audio, "service_tier": req.service_tier,
        "callback_url": req.callback_url,
    }
    try:
        return VideoSpec(model=model, prompt=req.prompt.strip(), images=images_in,
                         **{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "body"
        raise InvalidInput(f"Invalid value for '{name}': {first['msg']}.", param=name) \
            from None


def video_images(req: wire.VideoCreateRequest) -> list[ImageInput]:
    """The input images: ``input_reference`` (first frame), ``last_frame_url``,
    ``reference_image_urls``."""
    first = req.input_reference
    if isinstance(first, wire.InputReference):
        if first.file_id is not None and first.image_url is None:
            raise InvalidInput("'input_reference.file_id' is not supported by this server: "
                               "upload the file or give 'image_url'.",
                               param="input_reference.file_id")
        first = first.image_url
    out: list[ImageInput] = []
    if first is not None:
        check_url(first, "input_reference")
        out.append(ImageInput(role="first_frame", url=first, param="input_reference"))
    if req.last_frame_url is not None:
        if first is None:
            raise InvalidInput("'last_frame_url' needs an 'input_reference' (the first frame).",
                               param="last_frame_url")
        check_url(req.last_frame_url, "last_frame_url")
        out.append(ImageInput(role="last_frame", url=req.last_frame_url, param="last_frame_url"))
    refs = req.reference_image_urls or []
    if refs and out:
        raise InvalidInput("'reference_image_urls' cannot be combined with 'input_reference' "
                           "or 'last_frame_url'.", param="reference_image_urls")
    if len(refs) > MAX_REFERENCE_IMAGES:
        raise InvalidInput(f"At most {MAX_REFERENCE_IMAGES} 'reference_image_urls' are allowed, "
                           f"got {len(refs)}.", param="reference_image_urls")
    for index, url in enumerate(refs):
        param = f"reference_image_urls[{index}]"
        check_url(url, param)
        out.append(ImageInput(role="reference_image", url=url, param=param))
    return out


def check_url(url: str, param: str, *, data_ok: bool = True) -> None:
    """An http(s) URL (or, where an image is meant, a ``data:image/`` URI)."""
    head = url[:64].lstrip().lower()
    if data_ok and head.startswith("data:"):
        if not head.startswith("data:image/"):
            raise InvalidInput(f"Invalid value for '{param}': a data URI must be "
                               "data:image/<format>;base64,...", param=param)
        return
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        kind = "an http(s) URL or a data:image/ URI" if data_ok else "an http(s) URL"
        raise InvalidInput(f"Invalid value for '{param}': must be {kind}.", param=param)


def size_to_resolution_ratio(size: str, family: str) -> tuple[str, str]:
    """``WxH`` → (resolution, ratio): the exact entry of the family's table, else the
    resolution nearest the short side and the ratio nearest the aspect."""
    match = _SIZE.match(size)
    if match is None:
        raise InvalidInput(f"Invalid value for 'size': expected WIDTHxHEIGHT (e.g. 1280x720), "
                           f"got {size[:40]!r}.", param="size")
    width, height = int(match[1]), int(match[2])
    if not (1 <= width <= SIZE_SIDE_MAX_PX and 1 <= height <= SIZE_SIDE_MAX_PX):
        raise InvalidInput(f"Invalid value for 'size': each side must be within "
                           f"[1, {SIZE_SIDE_MAX_PX}], got {width}x{height}.", param="size")
    for resolution, table in sizes.SIZE_TABLES[family].items():
        for ratio, pixels in table.items():
            if pixels == (width, height):
                return resolution, ratio
    short = min(width, height)
    resolution = min(RESOLUTION_SHORT_SIDES,
                     key=lambda r: abs(RESOLUTION_SHORT_SIDES[r] - short))
    return resolution, sizes.nearest_ratio(width, height, choices=sizes.RATIOS)


# -- a video task on the wire -----------------------------------------------------------


def video_object(task: Task) -> wire.Video:
    """Render a video task (created through any dialect) as the vendor's ``Video``."""
    spec = task.spec
    finished = int(task.finished_at) if task.terminal and task.finished_at else None
    return wire.Video(
        id=task.id, model=task.model, status=STATUSES[task.status], progress=progress(task),
        created_at=int(task.created_at), completed_at=finished, expires_at=None,
        prompt=spec.get("prompt"), size=f"{spec.get('width') or 0}x{spec.get('height') or 0}",
        seconds=seconds(spec), error=video_error(task), engine=task.engine,
        seed=task.seed if task.seed is not None else spec.get("seed"),
        resolution=spec.get("resolution"), ratio=spec.get("ratio"),
        camera_fixed=spec.get("camera_fixed"))


def seconds(spec: dict[str, Any]) -> str:
    """``duration`` as a string, or the length of an exact ``frames`` count (``"1.17"``)."""
    if spec.get("frames") is not None and spec.get("fps"):
        return f"{(spec['frames'] - 1) / spec['fps']:.3g}"
    return str(spec.get("duration") or 5)


def video_error(task: Task) -> wire.VideoError | None:
    """``error`` of a video that ended without output."""
    if task.status == TaskStatus.FAILED:
        return wire.VideoError(code=error_code(task.error_code or "internal_error"),
                               message=task.error_message or "The video generation failed.")
    if task.status == TaskStatus.CANCELLED:
        return wire.VideoError(code="cancelled", message=task.error_message
                               or "The video generation was cancelled.")
    if task.status == TaskStatus.EXPIRED:
        return wire.VideoError(code="expired", message=task.error_message or "The video did "
                               "not finish within its execution deadline.")
    return None


def progress(task: Task) -> int:
    """Progress as a whole percentage (100 once completed)."""
    if task.status == TaskStatus.SUCCEEDED:
        return 100
    return max(0, min(100, round(task.progress * 100)))


def video_list(tasks: list[Task], has_more: bool) -> wire.VideoList:
    """A list page."""
    data = [video_object(t) for t in tasks]
    return wire.VideoList(data=data, first_id=data[0].id if data else None,
                          last_id=data[-1].id if data else None, has_more=has_more)


def webhook_body(task: Task, service: TaskService) -> dict[str, Any]:
    """The body of a webhook for a video task created through this dialect: the ``Video``
    object as ``GET /v1/videos/{id}`` returns it."""
    return video_object(task).model_dump(mode="json")
