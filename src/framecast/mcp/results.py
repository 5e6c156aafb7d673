"""What Framecast's MCP tools answer: structured content (``outputSchema``) and a text rendering.

Every task tool answers a ``TaskResult`` (id, status, progress, output URLs …) as
``structuredContent`` plus a few lines of text for clients that show only text. Failures are
``isError`` results whose text starts with ``Error:``, the way ``mcp-seedance``'s tools word
them. ``Caller`` is who is asking: the task service and the API key's owner the tools are
scoped to.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent
from pydantic import BaseModel, Field

from framecast.core.task import Task, TaskStatus
from framecast.service.registry import ModelEntry
from framecast.service.tasks import TaskService

VIDEO_FILE = "video.mp4"
LAST_FRAME_FILE = "last_frame.png"
IMAGE_FILE = "image.png"


@dataclass(frozen=True)
class Caller:
    """Who a tool call acts for: the service, the owner every task is scoped to, and whether
    local file paths may be shown (stdio on the user's own machine: yes; HTTP: never)."""

    service: TaskService
    owner_id: str
    local_paths: bool = False


CallerOf = Callable[[Context], Caller]


class TaskErrorInfo(BaseModel):
    """Why a task failed, expired or was cancelled."""

    code: str
    message: str


class TaskResult(BaseModel):
    """A generation task as the tools report it."""

    task_id: str = Field(description="The task id (pass it to get_task, wait_for_task, "
                                     "cancel_task).")
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
    progress: int = Field(ge=0, le=100, description="Percent done (100 once succeeded).")
    kind: Literal["video", "image"]
    model: str = Field(description="The model id as it was asked for.")
    engine: str = Field(description="The Framecast engine that serves the model.")
    video_url: str | None = Field(default=None, description="Signed URL of the MP4.")
    last_frame_url: str | None = Field(default=None, description="Signed URL of the last "
                                       "frame (PNG), when return_last_frame was set.")
    image_url: str | None = Field(default=None, description="Signed URL of the image (PNG).")
    b64_json: str | None = Field(default=None, description="The image as base64 PNG, when "
                                 "response_format is b64_json.")
    video_path: str | None = Field(default=None, description="Local path of the MP4 "
                                   "(stdio transport only).")
    last_frame_path: str | None = None
    image_path: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = Field(default=None, description="Frames in the video.")
    fps: int | None = None
    seed: int | None = Field(default=None, description="The seed used.")
    cancel_requested: bool = False
    error: TaskErrorInfo | None = None
    created_at: int
    updated_at: int


class ModelInfo(BaseModel):
    """One model of the registry."""

    id: str
    kind: Literal["video", "image"]
    engine: str
    aliases: list[str]
    default_resolution: str | None = None
    resolutions: list[str] | None = None
    default_size: str | None = None


class ModelList(BaseModel):
    """Every model id (and alias) this server accepts."""

    models: list[ModelInfo]


def task_progress(task: Task) -> int:
    """Progress as a whole percentage (100 once succeeded)."""
    if task.status == TaskStatus.SUCCEEDED:
        return 100
    return max(0, min(100, round(task.progress * 100)))


def task_result(task: Task, caller: Caller, *, b64: bool = False) -> TaskResult:
    """The structured view of a task; output URLs only once it succeeded."""
    spec = task.spec
    urls: dict[str, Any] = {}
    if task.status == TaskStatus.SUCCEEDED:
        names = {"video": VIDEO_FILE, "last_frame": LAST_FRAME_FILE, "image": IMAGE_FILE}
        for field, name in names.items():
            if task.output(name) is None:
                continue
            urls[f"{field}_url"] = caller.service.file_url(task, name)
            if caller.local_paths:
                urls[f"{field}_path"] = _local_path(caller.service, task, name)
        if b64 and task.output(IMAGE_FILE) is not None:
            data = caller.service.file_bytes(task, IMAGE_FILE) or b""
            urls["b64_json"] = base64.b64encode(data).decode("ascii")
            urls.pop("image_url", None)
    error = None
    if task.status in (TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.CANCELLED):
        default = {TaskStatus.FAILED: ("InternalServiceError", "The task failed."),
                   TaskStatus.EXPIRED: ("TaskExpired", "The task did not finish in time."),
                   TaskStatus.CANCELLED: ("cancelled", "The task was cancelled.")}[task.status]
        error = TaskErrorInfo(code=task.error_code or default[0],
                              message=task.error_message or default[1])
    return TaskResult(
        task_id=task.id, status=task.status.value, progress=task_progress(task),  # type: ignore[arg-type]
        kind=task.kind, model=task.model, engine=task.engine,  # type: ignore[arg-type]
        width=spec.get("width"), height=spec.get("height"),
        frames=spec.get("frames_total") if task.kind == "video" else None,
        fps=spec.get("fps") if task.kind == "video" else None,
        seed=task.seed if task.seed is not None else spec.get("seed"),
        cancel_requested=task.cancel_requested and not task.terminal, error=error,
        created_at=int(task.created_at), updated_at=int(task.updated_at), **urls)


def _local_path(service: TaskService, task: Task, name: str) -> str | None:
    out = task.output(name)
    path = service.storage.local_path(out.key) if out is not None else None   # local files only
    return str(path) if path is not None else None


def render_task(result: TaskResult) -> str:
    """The text rendering of a task result."""
    lines = [f"Task {result.task_id} ({result.kind}, model {result.model}, engine "
             f"{result.engine}): {result.status}, {result.progress}%"
             + (" (cancel requested)" if result.cancel_requested else "")]
    if result.width and result.height:
        size = f"{result.width}x{result.height}"
        lines.append(f"size: {size}" + (f", {result.frames} frames at {result.fps} fps"
                                         if result.frames else ""))
    for field in ("video_url", "last_frame_url", "image_url", "video_path", "last_frame_path",
                  "image_path"):
        value = getattr(result, field)
        if value:
            lines.append(f"{field}: {value}")
    if result.error is not None:
        lines.append(f"error: {result.error.code}: {result.error.message}")
    elif result.status in ("queued", "running"):
        lines.append(f"Call wait_for_task(task_id=\"{result.task_id}\") to wait for it.")
    return "\n".join(lines)


def task_answer(task: Task, caller: Caller, *, b64: bool = False) -> CallToolResult:
    """A tool answer for a task: structured ``TaskResult`` and its text (and the image itself
    as an image block when it was asked for as base64)."""
    result = task_result(task, caller, b64=b64)
    content: list[ContentBlock] = [TextContent(type="text", text=render_task(result))]
    if result.b64_json:
        content.append(ImageContent(type="image", data=result.b64_json, mime_type="image/png"))
    return CallToolResult(content=content, structured_content=result.model_dump(mode="json"))


def models_answer(entries: list[ModelEntry]) -> CallToolResult:
    """A tool answer listing the registry's models."""
    models = ModelList(models=[ModelInfo(
        id=e.id, kind=e.kind, engine=e.engine, aliases=list(e.aliases),  # type: ignore[arg-type]
        default_resolution=e.default_resolution if e.kind == "video" else None,
        resolutions=list(e.resolutions) if e.kind == "video" else None,
        default_size=e.default_size if e.kind == "image" else None) for e in entries])
    text = "\n".join(f"{m.id} ({m.kind}, engine {m.engine})"
                     + (f": {', '.join(m.aliases)}" if m.aliases else "")
                     for m in models.models)
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=models.model_dump(mode="json"))


def error_answer(message: str) -> CallToolResult:
    """A failed tool call, worded like ``mcp-seedance``'s (``Error: ...``)."""
    text = message if message.startswith("Error:") else f"Error: {message}"
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
