"""Native requests → canonical specs, and a stored task → the native task JSON.

The native shape is Framecast's own: every field of the task record a client may use, with
``progress`` as a percentage, an ``eta_s`` estimated from the progress rate of the running
attempt, and outputs with signed URLs and their media facts. ``webhook_body`` renders the
same object for the webhook sender.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from framecast.core.errors import InvalidInput, MissingInput
from framecast.core.spec import ImageInput, ImageSpec, VideoSpec
from framecast.core.task import Task, TaskStatus
from framecast.native import wire

DIALECT = "native"
DEFAULT_VIDEO_MODEL = "seedance-1-0-pro"
DEFAULT_IMAGE_MODEL = "seedream-3-0-t2i"
MAX_IMAGE_INPUTS = 14
INTERNAL_IMAGE_FIELDS = ("key", "param")   # storage details a client has no use for

FileUrl = Callable[[Task, str], str | None]


# ---- requests → specs ------------------------------------------------------------------------

def _check_ref(url: str, param: str) -> None:
    """Only http(s) URLs and ``data:image/`` URIs (the fetcher refuses the rest later, but
    naming the field now is kinder)."""
    text = url.strip()
    if not text:
        raise MissingInput(f"`{param}` must not be empty", param=param)
    lowered = text[:16].lower()
    if not (lowered.startswith(("http://", "https://", "data:image/"))):
        raise InvalidInput(f"`{param}` must be an http(s) URL or a data:image/... URI",
                           param=param)


def video_spec(req: wire.VideoCreate) -> VideoSpec:
    """The ``VideoSpec`` of a native video request (rules checked by ``VideoSpec`` itself)."""
    images: list[ImageInput] = []
    for n, ref in enumerate(req.images):
        _check_ref(ref.url, f"images[{n}].url")
        images.append(ImageInput(role=ref.role, url=ref.url, param=f"images[{n}].url"))
    for role, url in (("first_frame", req.first_frame), ("last_frame", req.last_frame)):
        if url is not None:
            _check_ref(url, role)
            images.append(ImageInput(role=role, url=url, param=role))  # type: ignore[arg-type]
    for n, url in enumerate(req.reference_images):
        _check_ref(url, f"reference_images[{n}]")
        images.append(ImageInput(role="reference_image", url=url,
                                 param=f"reference_images[{n}]"))
    given = req.model_dump(exclude_none=True, exclude={"images", "first_frame", "last_frame",
                                                       "reference_images", "model"})
    return _build(VideoSpec, model=(req.model or DEFAULT_VIDEO_MODEL).strip(), images=images,
                  **given)


def image_spec(req: wire.ImageCreate) -> ImageSpec:
    """The ``ImageSpec`` of a native image request."""
    if not req.prompt.strip():
        raise MissingInput("`prompt` must not be empty", param="prompt")
    if len(req.images) > MAX_IMAGE_INPUTS:
        raise InvalidInput(f"at most {MAX_IMAGE_INPUTS} input images are allowed, got "
                           f"{len(req.images)}", param="images")
    images = []
    for n, url in enumerate(req.images):
        _check_ref(url, f"images[{n}]")
        images.append(ImageInput(role="reference_image", url=url, param=f"images[{n}]"))
    given = req.model_dump(exclude_none=True, exclude={"images", "model"})
    return _build(ImageSpec, model=(req.model or DEFAULT_IMAGE_MODEL).strip(), images=images,
                  **given)


def _build(cls: type[VideoSpec] | type[ImageSpec], **fields: Any) -> Any:
    """Construct a spec; its errors name the native request's fields."""
    try:
        return cls(**fields)
    except ValidationError as exc:   # a length cap or a literal the wire model let through
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "body"
        raise InvalidInput(f"`{name}`: {first['msg']}", param=name) from None


# ---- task → native JSON ----------------------------------------------------------------------

def percent(task: Task) -> float:
    """Progress as a percentage (100 once succeeded)."""
    if task.status == TaskStatus.SUCCEEDED:
        return 100.0
    return round(max(0.0, min(1.0, task.progress)) * 100.0, 2)


def eta_seconds(task: Task, now: float | None = None) -> float | None:
    """Seconds left, from the running attempt's progress rate since ``started_at``; 0 once
    succeeded; None when it cannot be told (queued, no progress yet, ended otherwise)."""
    if task.status == TaskStatus.SUCCEEDED:
        return 0.0
    if task.status != TaskStatus.RUNNING or task.started_at is None:
        return None
    fraction = max(0.0, min(1.0, task.progress))
    if fraction <= 0.0:
        return None
    elapsed = max(0.0, (now if now is not None else time.time()) - task.started_at)
    return round(elapsed * (1.0 - fraction) / fraction, 1)


def task_error(task: Task) -> wire.TaskError | None:
    """``error`` of a failed or expired task (null otherwise; a cancelled task says so in its
    status)."""
    if task.status == TaskStatus.FAILED:
        return wire.TaskError(code=task.error_code or "InternalServiceError",
                              message=task.error_message or "The task failed.")
    if task.status == TaskStatus.EXPIRED:
        return wire.TaskError(code=task.error_code or "TaskExpired",
                              message=task.error_message or "The task was not finished within "
                              "its execution_expires_after.")
    return None


def outputs(task: Task, file_url: FileUrl) -> list[wire.Output]:
    """The task's output files with signed URLs (none until it succeeded)."""
    if task.status != TaskStatus.SUCCEEDED:
        return []
    return [wire.Output(name=o.name, url=file_url(task, o.name), content_type=o.content_type,
                        size_bytes=o.size_bytes, width=o.width, height=o.height,
                        frames=o.frames, fps=o.fps, has_audio=o.has_audio)
            for o in task.outputs]


def public_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The stored spec without storage details (input keys, internal field names)."""
    out = dict(spec)
    out["images"] = [{k: v for k, v in image.items() if k not in INTERNAL_IMAGE_FIELDS}
                     for image in spec.get("images") or []]
    return out


def task_to_native(task: Task, file_url: FileUrl, *, now: float | None = None
                   ) -> wire.NativeTask:
    """Render a stored task (of any dialect) as the native task object."""
    return wire.NativeTask(
        id=task.id, kind=task.kind, model=task.model,  # type: ignore[arg-type]
        engine=task.engine, dialect=task.dialect, status=task.status.value,
        progress=percent(task), step=task.step, total_steps=task.total_steps,
        eta_s=eta_seconds(task, now), seed=task.seed if task.seed is not None
        else task.spec.get("seed"), attempt=task.attempt,
        cancel_requested=task.cancel_requested, service_tier=task.service_tier,
        created_at=task.created_at, started_at=task.started_at, finished_at=task.finished_at,
        error=task_error(task), outputs=outputs(task, file_url), spec=public_spec(task.spec),
        usage_tokens=task.usage_tokens, engine_seconds=round(task.engine_seconds, 3),
        engine_info=task.engine_info)


def task_json(task: Task, file_url: FileUrl) -> dict[str, Any]:
    """The native task object as JSON-ready data."""
    return task_to_native(task, file_url).model_dump(mode="json")


def webhook_body(task: Task, service: Any) -> dict[str, Any]:
    """The ``callback_url`` body of a task created through the native API: the task object
    exactly as ``GET /framecast/v1/tasks/{id}`` answers it (``service.file_url`` signs)."""
    return task_json(task, service.file_url)
