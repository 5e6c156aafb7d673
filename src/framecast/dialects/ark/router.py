"""The Ark HTTP API (BytePlus / Volcengine ModelArk): Seedance video tasks and Seedream images.

    POST   /api/v3/contents/generations/tasks        create a video task → {"id"}
    GET    /api/v3/contents/generations/tasks/{id}   the task object
    GET    /api/v3/contents/generations/tasks        list: page_num, page_size, filter.*
    DELETE /api/v3/contents/generations/tasks/{id}   queued → cancelled; finished → deleted
    POST   /api/v3/images/generations                synchronous image generation (or SSE)

Handlers only translate, call ``TaskService`` and render; errors become the Ark envelope in
``envelope.py``. Every task response carries ``X-Framecast-Engine``. Create and get, the
two calls every client makes over and over, are ``lean`` routes (``edge.body.lean``): the
front door serves them, and their parameters are read without FastAPI's solver.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from framecast.core.errors import FramecastError, NotFound
from framecast.core.spec import ImageSpec
from framecast.core.task import Task, TaskStatus
from framecast.dialects.ark import translate, wire
from framecast.dialects.ark.envelope import ENVELOPE
from framecast.edge.auth import Owner, require_owner
from framecast.edge.body import lean
from framecast.edge.state import task_service

DIALECT = translate.DIALECT
ENGINE_HEADER = "X-Framecast-Engine"
ENGINE_INFO_HEADER = "X-Framecast-Engine-Info"
PAGE_MAX = 500
STREAM_POLL_S = 0.05        # a streamed generation reads its task this often at first …
STREAM_POLL_MAX_S = 0.5     # … backing off to this while nothing new arrives

router = APIRouter(prefix="/api/v3", route_class=ENVELOPE.route, tags=["ark"])
OwnerDep = Annotated[Owner, Depends(require_owner)]


def engine_headers(task: Task) -> dict[str, str]:
    """``X-Framecast-Engine``, and once the task succeeded ``X-Framecast-Engine-Info``: what the
    engine did, as compact JSON (Ark's task object has no field for it)."""
    headers = {ENGINE_HEADER: task.engine}
    if task.engine_info:
        headers[ENGINE_INFO_HEADER] = json.dumps(task.engine_info, separators=(",", ":"),
                                                 sort_keys=True)
    return headers


def _render(model: BaseModel, task: Task | None = None) -> JSONResponse:
    headers = {ENGINE_HEADER: task.engine} if task is not None else None
    return JSONResponse(model.model_dump(mode="json", exclude_none=True), headers=headers)


async def _video_task(request: Request, task_id: str, owner: Owner) -> Task:
    """The caller's video task (an image task id is not a content-generation task)."""
    try:
        task = await task_service(request).aget(task_id, owner_id=owner.id)
    except NotFound:
        task = None
    if task is None or task.kind != "video":
        raise NotFound(f"The task `{task_id}` does not exist.", param="id", task_id=task_id)
    return task


@router.post("/contents/generations/tasks", response_model=wire.CreateTaskResponse)
@lean
async def create_task(body: wire.CreateTaskRequest, request: Request,
                      owner: OwnerDep) -> JSONResponse:
    """Create a Seedance video task (image-to-video or text-to-video)."""
    spec = translate.video_spec_from_wire(body)
    task = await task_service(request).create_video(spec, owner_id=owner.id, dialect=DIALECT)
    return _render(wire.CreateTaskResponse(id=task.id, safety_identifier=body.safety_identifier),
                   task)


@router.get("/contents/generations/tasks/{task_id}", response_model=wire.ContentGenerationTask)
@lean
async def get_task(task_id: str, request: Request, owner: OwnerDep) -> JSONResponse:
    """One video task of the caller."""
    task = await _video_task(request, task_id, owner)
    return JSONResponse(translate.task_dict(task, task_service(request).file_url),
                        headers=engine_headers(task))


@router.get("/contents/generations/tasks", response_model=wire.ListTasksResponse)
def list_tasks(
    request: Request, owner: OwnerDep,
    page_num: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 1,
    page_size: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 10,
    status: Annotated[str | None, Query(alias="filter.status")] = None,
    task_ids: Annotated[list[str] | None, Query(alias="filter.task_ids")] = None,
    model: Annotated[str | None, Query(alias="filter.model")] = None,
    service_tier: Annotated[str | None, Query(alias="filter.service_tier")] = None,
) -> JSONResponse:
    """The caller's video tasks, newest first, filtered and paged."""
    service = task_service(request)
    total, tasks = service.list(
        owner.id, task_ids=task_ids or None, model=model or None, kind="video",
        offset=(page_num - 1) * page_size, limit=page_size,
        **translate.list_filters(status or None, service_tier or None))
    items = [translate.task_dict(t, service.file_url) for t in tasks]
    return JSONResponse({"total": total, "items": items})


@router.delete("/contents/generations/tasks/{task_id}")
async def delete_task(task_id: str, request: Request, owner: OwnerDep) -> JSONResponse:
    """Cancel a queued task, or delete a finished one (running/cancelled → 400)."""
    await _video_task(request, task_id, owner)
    task = await anyio.to_thread.run_sync(
        lambda: task_service(request).cancel_or_delete(task_id, owner_id=owner.id))
    return JSONResponse({}, headers={ENGINE_HEADER: task.engine})


@router.post("/images/generations", response_model=wire.ImagesResponse)
async def generate_images(body: wire.ImagesGenerateRequest, request: Request,
                          owner: OwnerDep) -> JSONResponse | StreamingResponse:
    """Generate an image, or a set of them, synchronously (Seedream); ``stream: true``
    answers with SSE, one event per image."""
    service = task_service(request)
    spec = translate.image_spec_from_wire(body)
    if body.stream:   # refusals are answered before the stream starts, as JSON errors
        task = await service.create_image(spec, owner_id=owner.id, dialect=DIALECT)
        return StreamingResponse(_sse(_image_events(request, task, spec, owner)),
                                 media_type="text/event-stream",
                                 headers={ENGINE_HEADER: task.engine})
    task = await service.generate_image(spec, owner_id=owner.id, dialect=DIALECT)
    error = None if task.status == TaskStatus.SUCCEEDED else \
        translate.image_task_error(task, service.limits.image_wait_s)
    if error is not None and not task.terminal:
        await anyio.to_thread.run_sync(_cancel_quietly, request, task, owner)
    if error is not None:
        response = ENVELOPE.respond(error, request)
        response.headers[ENGINE_HEADER] = task.engine
        return response
    items = await anyio.to_thread.run_sync(
        _image_items, request, task, translate.image_output_names(task), spec.response_format)
    return _render(translate.images_response(task, items), task)


async def _image_events(request: Request, task: Task, spec: ImageSpec,
                        owner: Owner) -> AsyncIterator[wire.ImageStreamEvent]:
    """The events of a streamed generation, each image's as soon as the worker stored it
    (an image set's images arrive one by one), then a failure if any, then the usage."""
    service = task_service(request)
    deadline = time.monotonic() + service.limits.image_wait_s
    sent: list[str] = []
    pause = STREAM_POLL_S
    while True:
        task = await service.aget(task.id, owner_id=owner.id)
        names = translate.image_output_names(task)[len(sent):]
        if names:
            items = await anyio.to_thread.run_sync(_image_items, request, task, names,
                                                   spec.response_format)
            for item in items:
                yield translate.image_event(task, len(sent), item)
                sent.append(item.size)
            pause = STREAM_POLL_S
        if task.terminal or time.monotonic() >= deadline:
            break
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, STREAM_POLL_MAX_S)
    if task.status != TaskStatus.SUCCEEDED:
        if not task.terminal:
            await anyio.to_thread.run_sync(_cancel_quietly, request, task, owner)
        error = translate.image_task_error(task, service.limits.image_wait_s)
        yield translate.image_event(task, len(sent), error=error)
    yield translate.completed_event(task, sent)


def _image_items(request: Request, task: Task, names: list[str],
                 response_format: str) -> list[wire.ImageData]:
    service = task_service(request)
    items = []
    for name in names:
        if response_format == "b64_json":
            items.append(translate.image_data(task, name, url=None,
                                              data=service.file_bytes(task, name)))
        else:
            items.append(translate.image_data(task, name, url=service.file_url(task, name),
                                              data=None))
    return items


def _cancel_quietly(request: Request, task: Task, owner: Owner) -> None:
    """Stop an image task the client no longer waits for (best effort)."""
    try:
        task_service(request).cancel(task.id, owner_id=owner.id)
    except FramecastError:
        pass


async def _sse(events: AsyncIterator[wire.ImageStreamEvent]) -> AsyncIterator[bytes]:
    async for event in events:
        payload = event.model_dump_json(exclude_none=True)
        yield f"event: {event.type}\ndata: {payload}\n\n".encode()
    yield b"data: [DONE]\n\n"
