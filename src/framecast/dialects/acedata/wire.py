"""The AceData wire models: what ``mcp-seedance`` (and AceData's own documents) send and read.

``POST /seedance/videos`` takes an Ark-style body (``model``, ``content`` items with roles,
top-level ``resolution``/``ratio``/``duration``|``frames`` …) plus AceData's ``callback_url``
and ``async``. ``POST /seedance/tasks`` takes ``{"id", "action": "retrieve"}`` or
``{"ids": [...], "action": "retrieve_batch"}``.

Requests are lax like the vendor's: JSON ``null`` means absent and unknown keys are ignored
(newer ``mcp-seedance`` releases send ``priority``, ``output_format`` … which this server does
not use). Values that need a vendor-named error (``resolution``, ``role`` …) are plain
strings here and checked in ``translate.py``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# -- POST /seedance/videos ------------------------------------------------------------------


class ImageURL(_Wire):
    """``image_url`` of a content item: an http(s) URL or ``data:image/<fmt>;base64,...``."""

    url: str


class ContentItem(_Wire):
    """One ``content`` item: ``{"type": "text", "text"}`` or
    ``{"type": "image_url", "image_url": {"url"}, "role"}``."""

    type: str
    text: str | None = None
    image_url: ImageURL | None = None
    role: str | None = None


class VideosRequest(_Wire):
    """Body of ``POST /seedance/videos`` (``mcp-seedance`` 2026.4.30.0's key order)."""

    model: str
    content: list[ContentItem]
    resolution: str | None = None
    ratio: str | None = None
    service_tier: str | None = None
    camerafixed: bool | None = None       # the text-to-video tool's spelling
    camera_fixed: bool | None = None      # Ark's spelling, accepted too
    watermark: bool | None = None
    return_last_frame: bool | None = None
    execution_expires_after: int | None = None
    duration: int | None = None
    frames: int | None = None
    seed: int | None = None
    generate_audio: bool | None = None
    callback_url: str | None = None
    async_: bool | None = Field(default=None, alias="async")


# -- POST /seedance/tasks -------------------------------------------------------------------


class TasksRequest(_Wire):
    """Body of ``POST /seedance/tasks``; ``action`` defaults to ``retrieve``."""

    id: str | None = None
    ids: list[str] | None = None
    action: str = "retrieve"


# -- responses ------------------------------------------------------------------------------


class TaskError(BaseModel):
    """Why a task failed, expired or was cancelled."""

    code: str
    message: str


class TaskContent(BaseModel):
    """Signed links to the task's outputs."""

    video_url: str | None = None
    last_frame_url: str | None = None
    image_url: str | None = None


class TaskUsage(BaseModel):
    """Tokens by the vendor's formula (video: floor(W × H × frames / 1024))."""

    completion_tokens: int
    total_tokens: int


class TaskObject(BaseModel):
    """The Ark task object AceData passes through in ``data`` (research/api-dialects.md §1.3),
    plus Framecast's ``engine`` and ``progress``."""

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
    size: str | None = None                # image tasks
    service_tier: str | None = None
    execution_expires_after: int | None = None
    generate_audio: bool | None = None
    return_last_frame: bool | None = None
    engine: str | None = None              # Framecast: the engine that serves the model
    progress: int = 0                      # Framecast: 0-100


class VideosResponse(BaseModel):
    """What ``/seedance/videos`` answers (and what a callback carries): ``task_id`` and
    ``trace_id``; ``data`` once the task is finished (synchronous mode and callbacks);
    ``error`` when it did not succeed."""

    success: bool
    task_id: str
    trace_id: str
    data: list[TaskObject] | None = None
    error: TaskError | None = None


class TaskRecord(BaseModel):
    """One task as ``/seedance/tasks`` answers it: AceData's task record.

    ``mcp-seedance`` 2026.4.30.0 sees completion in ``response.success``; later releases read
    ``state``. ``response`` is the final response, present only once the task is finished;
    ``data`` mirrors the task object at every stage (AceData's newer documents poll
    ``data[0].status``). There is deliberately no top-level ``success``: that client reads a
    top-level ``success: true`` as "``data`` is one task object" and would fail on a list.
    """

    id: str
    task_id: str
    trace_id: str
    type: str = "videos"
    state: str
    progress: int
    response: VideosResponse | None = None
    data: list[TaskObject]
    created_at: float
    finished_at: float | None = None


class TasksBatchResponse(BaseModel):
    """``retrieve_batch``: the caller's tasks among ``ids`` (unknown ids are left out).
    ``success: true`` says the query itself worked (``mcp-seedance`` logs "API returned
    success=false" for any answer without it; this one has no top-level ``data`` for it to
    misread)."""

    success: bool = True
    items: list[TaskRecord]
    count: int


# -- errors ---------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """What ``mcp-seedance`` reads (``code``, ``message``), plus the field at fault."""

    code: str
    message: str
    param: str | None = None


class ErrorEnvelope(BaseModel):
    """``{"error": {...}, "trace_id": ...}`` on every non-2xx AceData response."""

    error: ErrorBody
    trace_id: str


def dump(model: BaseModel) -> dict[str, Any]:
    """A response model as JSON-ready data, absent (``None``) fields left out."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)
