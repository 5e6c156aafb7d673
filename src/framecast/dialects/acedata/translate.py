"""AceData wire ⇄ Framecast core.

* ``video_spec_from_wire``: a ``/seedance/videos`` body becomes a ``VideoSpec``. JSON ``null``
  means absent; ``camerafixed`` (the text-to-video tool's spelling) and ``camera_fixed`` both
  work; ``duration: -1`` ("model decides") means the model's default. Inline ``--flag value``
  prompt parameters are **not** interpreted here: ``mcp-seedance`` always sends the top-level
  fields, which win over flags in the vendor's API anyway.
* ``callback_url``: ``mcp-seedance`` 2026.4.30.0 injects ``https://api.acedata.cloud/health``
  only to force asynchronous mode. That placeholder means "asynchronous, no callback": it is
  never stored, so no webhook is ever sent to it. Any other URL is stored as the task's
  callback; ``webhook_body`` is what it receives.
* Tasks render as AceData's shapes: the submission ``{success, task_id, trace_id}``, the
  finished response ``{success, task_id, trace_id, data: [<Ark task object>]}`` and the task
  record of ``/seedance/tasks``. A task's ``trace_id`` is derived from its id, so it is the
  same in every answer about that task.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from framecast.core.errors import InvalidInput, MissingInput
from framecast.core.spec import ImageInput, VideoSpec, one_spelling
from framecast.core.task import Task, TaskStatus
from framecast.dialects.acedata import wire

if TYPE_CHECKING:
    from framecast.service.tasks import TaskService

FileUrl = Callable[[Task, str], str | None]

ASYNC_PLACEHOLDER_CALLBACK = "https://api.acedata.cloud/health"
VIDEO_FILE = "video.mp4"
LAST_FRAME_FILE = "last_frame.png"
IMAGE_FILE = "image.png"
FPS = 24
AUTO_DURATION = -1
MAX_BATCH_IDS = 100
ROLES: tuple[str, ...] = ("first_frame", "last_frame", "reference_image")
RESOLUTIONS: tuple[str, ...] = ("480p", "720p", "1080p")
RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21", "adaptive")
SERVICE_TIERS: tuple[str, ...] = ("default", "flex")
ACTIONS: tuple[str, ...] = ("retrieve", "retrieve_batch")

# AceData's `state` words: later mcp-seedance releases treat {complete, completed, succeeded,
# success} as done and {failed, error, cancelled, canceled} as failed, so `expired` is "failed".
STATES: dict[TaskStatus, str] = {
    TaskStatus.QUEUED: "pending", TaskStatus.RUNNING: "processing",
    TaskStatus.SUCCEEDED: "succeeded", TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "cancelled", TaskStatus.EXPIRED: "failed",
}
_TRACE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "framecast:acedata:trace")

DIALECT = "acedata"


# -- POST /seedance/videos -----------------------------------------------------------------


def video_spec_from_wire(req: wire.VideosRequest) -> VideoSpec:
    """The canonical ``VideoSpec`` of a ``/seedance/videos`` body (``InvalidInput`` naming the
    field otherwise). Range rules shared by every dialect are checked by the spec itself."""
    texts: list[str] = []
    images: list[ImageInput] = []
    for index, item in enumerate(req.content):
        if item.type == "text":
            if item.text is None:
                raise MissingInput(f"`content[{index}].text` is required for a text item",
                                   param=f"content[{index}].text")
            texts.append(item.text.strip())
        elif item.type == "image_url":
            images.append(_image_input(item, index))
        else:
            raise InvalidInput(f"`content[{index}].type` must be `text` or `image_url`, got "
                               f"{_clip(item.type)!r}", param=f"content[{index}].type")
    prompt = " ".join(t for t in texts if t)
    if not prompt and not images:
        raise MissingInput("`content` needs a text prompt or an `image_url` item",
                           param="content")
    _check_choice(req.resolution, RESOLUTIONS, "resolution")
    _check_choice(req.ratio, RATIOS, "ratio")
    _check_choice(req.service_tier, SERVICE_TIERS, "service_tier")
    fields: dict[str, Any] = {
        "resolution": req.resolution, "ratio": req.ratio, "frames": req.frames,
        "duration": None if req.duration == AUTO_DURATION else req.duration,
        "seed": req.seed, "watermark": req.watermark,
        "camera_fixed": one_spelling({"camera_fixed": req.camera_fixed,
                                      "camerafixed": req.camerafixed}, param="camera_fixed"),
        "return_last_frame": req.return_last_frame, "generate_audio": req.generate_audio,
        "service_tier": req.service_tier, "callback_url": callback_for(req.callback_url),
        "execution_expires_after": req.execution_expires_after,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    try:
        return VideoSpec(model=req.model, prompt=prompt, images=images, fps=FPS, **fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "body"
        param = "content" if name in ("prompt", "images") else name
        raise InvalidInput(f"`{param}`: {first['msg']}", param=param) from None


def is_async(req: wire.VideosRequest) -> bool:
    """Whether to answer at once with the task id (``async: true`` or any ``callback_url``,
    the placeholder included) rather than wait for the video."""
    return bool(req.async_) or bool(req.callback_url)


def callback_for(url: str | None) -> str | None:
    """The callback to store: ``None`` for no URL and for ``mcp-seedance``'s placeholder;
    otherwise the URL, which must be http(s)."""
    if url is None or not url.strip():
        return None
    if url.strip().rstrip("/").lower() == ASYNC_PLACEHOLDER_CALLBACK:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"`callback_url` must be an http(s) URL, got {_clip(url)!r}",
                           param="callback_url")
    return url.strip()


def _image_input(item: wire.ContentItem, index: int) -> ImageInput:
    role = item.role or "first_frame"
    if role not in ROLES:
        raise InvalidInput(f"`content[{index}].role` must be one of {', '.join(ROLES)}, got "
                           f"{_clip(role)!r}", param=f"content[{index}].role")
    param = f"content[{index}].image_url.url"
    if item.image_url is None:
        raise MissingInput(f"`{param}` is required for an image_url item", param=param)
    url = item.image_url.url
    head = url[:64].lstrip().lower()       # a data URI may be megabytes: look at its head only
    if head.startswith("data:"):
        if not head.startswith("data:image/"):
            raise InvalidInput(f"`{param}` must be an image data URI (data:image/<format>;"
                               "base64,...)", param=param)
    else:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"`{param}` must be an http(s) URL or a data:image/ URI, got "
                               f"{_clip(url)!r}", param=param)
    return ImageInput(role=role, url=url, param=param)  # type: ignore[arg-type]


def _check_choice(value: str | None, choices: tuple[str, ...], param: str) -> None:
    if value is not None and value not in choices:
        raise InvalidInput(f"`{param}` must be one of {', '.join(choices)}, got "
                           f"{_clip(value)!r}", param=param)


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# -- POST /seedance/tasks ------------------------------------------------------------------


def task_ids_of(req: wire.TasksRequest) -> list[str]:
    """The ids a query asks for, checked against its ``action`` (duplicates dropped)."""
    if req.action not in ACTIONS:
        raise InvalidInput(f"`action` must be one of {', '.join(ACTIONS)}, got "
                           f"{_clip(req.action)!r}", param="action")
    if req.action == "retrieve":
        if not req.id or not req.id.strip():
            raise MissingInput("`id` is required for action `retrieve`", param="id")
        return [req.id.strip()]
    if not req.ids:
        raise MissingInput("`ids` (a non-empty list) is required for action `retrieve_batch`",
                           param="ids")
    if len(req.ids) > MAX_BATCH_IDS:
        raise InvalidInput(f"`ids` may hold at most {MAX_BATCH_IDS} ids, got {len(req.ids)}",
                           param="ids")
    return list(dict.fromkeys(i.strip() for i in req.ids if i.strip()))


# -- tasks on the wire ---------------------------------------------------------------------


def trace_id_for(task_id: str) -> str:
    """The task's trace id: stable, so every answer about one task carries the same one."""
    return str(uuid.uuid5(_TRACE_NAMESPACE, task_id))


def task_object(task: Task, file_url: FileUrl) -> wire.TaskObject:
    """The Ark task object of a stored task (an image task gets ``content.image_url``)."""
    spec = task.spec
    content = usage = None
    if task.status == TaskStatus.SUCCEEDED:
        if task.kind == "image":
            content = wire.TaskContent(image_url=file_url(task, _image_name(task)))
        else:
            content = wire.TaskContent(
                video_url=file_url(task, VIDEO_FILE),
                last_frame_url=file_url(task, LAST_FRAME_FILE)
                if spec.get("return_last_frame") else None)
        usage = wire.TaskUsage(completion_tokens=task.usage_tokens,
                               total_tokens=task.usage_tokens)
    video = task.kind == "video"
    frames_given = spec.get("frames") is not None
    return wire.TaskObject(
        id=task.id, model=task.model, status=task.status.value, error=task_error(task),
        content=content, usage=usage, created_at=int(task.created_at),
        updated_at=int(task.updated_at),
        seed=task.seed if task.seed is not None else spec.get("seed"),
        resolution=spec.get("resolution"), ratio=spec.get("ratio"),
        duration=spec.get("duration") if video and not frames_given else None,
        frames=spec.get("frames") if frames_given else None,
        framespersecond=spec.get("fps") if video else None,
        size=None if video else spec.get("size"), service_tier=task.service_tier,
        execution_expires_after=spec.get("execution_expires_after"),
        generate_audio=spec.get("generate_audio"),
        return_last_frame=spec.get("return_last_frame"),
        engine=task.engine, progress=task_progress(task))


def task_error(task: Task) -> wire.TaskError | None:
    """Why a finished task did not succeed (``None`` while it runs and once it succeeded)."""
    if task.status == TaskStatus.FAILED:
        return wire.TaskError(code=task.error_code or "api_error",
                              message=task.error_message or "The task failed.")
    if task.status == TaskStatus.EXPIRED:
        return wire.TaskError(code=task.error_code or "TaskExpired",
                              message=task.error_message or "The task did not finish within "
                              "`execution_expires_after` seconds.")
    if task.status == TaskStatus.CANCELLED:
        return wire.TaskError(code="cancelled", message="The task was cancelled.")
    return None


def task_progress(task: Task) -> int:
    """Progress as a whole percentage (100 once succeeded)."""
    if task.status == TaskStatus.SUCCEEDED:
        return 100
    return max(0, min(100, round(task.progress * 100)))


def submitted(task: Task) -> wire.VideosResponse:
    """The asynchronous answer to ``/seedance/videos``: the task id to poll."""
    return wire.VideosResponse(success=True, task_id=task.id, trace_id=trace_id_for(task.id))


def finished(task: Task, file_url: FileUrl, *,
             waited_s: float | None = None) -> wire.VideosResponse:
    """The synchronous answer (and the callback body): the task object in ``data``;
    ``success: false`` with ``error`` when it failed, or is still running after
    ``waited_s`` seconds of a synchronous request (it goes on; poll ``/seedance/tasks``)."""
    error = task_error(task)
    if not task.terminal and waited_s is not None:
        error = wire.TaskError(code="timeout", message=f"The task is still {task.status.value} "
                               f"after {waited_s:g} s; it goes on: poll /seedance/tasks "
                               "with this task_id.")
    return wire.VideosResponse(success=task.status == TaskStatus.SUCCEEDED, task_id=task.id,
                               trace_id=trace_id_for(task.id),
                               data=[task_object(task, file_url)], error=error)


def task_record(task: Task, file_url: FileUrl) -> wire.TaskRecord:
    """A task as ``/seedance/tasks`` answers it (see ``wire.TaskRecord``)."""
    obj = task_object(task, file_url)
    return wire.TaskRecord(
        id=task.id, task_id=task.id, trace_id=trace_id_for(task.id),
        type="videos" if task.kind == "video" else "images", state=STATES[task.status],
        progress=obj.progress, response=finished(task, file_url) if task.terminal else None,
        data=[obj], created_at=task.created_at, finished_at=task.finished_at)


def batch(tasks: Sequence[Task], order: Sequence[str],
          file_url: FileUrl) -> wire.TasksBatchResponse:
    """``retrieve_batch``: the found tasks in the order their ids were asked for."""
    rank = {task_id: n for n, task_id in enumerate(order)}
    found = sorted(tasks, key=lambda t: rank.get(t.id, len(rank)))
    return wire.TasksBatchResponse(items=[task_record(t, file_url) for t in found],
                                   count=len(found))


def webhook_body(task: Task, service: TaskService) -> dict[str, Any]:
    """The body POSTed to a task's ``callback_url``: AceData's finished response
    ``{success, task_id, trace_id, data: [<task object>], error?}``."""
    return wire.dump(finished(task, service.file_url))


def _image_name(task: Task) -> str:
    if task.output(IMAGE_FILE):
        return IMAGE_FILE
    return next((o.name for o in task.outputs if o.content_type.startswith("image/")),
                IMAGE_FILE)
