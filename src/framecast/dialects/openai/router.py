"""The OpenAI HTTP surface: the videos API served by Seedance models, and the one image
endpoint shared by OpenAI and AI/ML API clients (Seedream).

    POST   /v1/videos                       create (multipart or JSON) → the Video object
    GET    /v1/videos                       list: after, limit (0–100, 20), order (desc)
    GET    /v1/videos/{id}                  the Video object (header openai-poll-after-ms)
    DELETE /v1/videos/{id}                  cancel if unfinished, then delete → video.deleted
    GET    /v1/videos/{id}/content          variant=video (mp4) | thumbnail (webp)
                                            | spritesheet (jpeg) | last_frame (png)
    POST   /v1/images/generations           synchronous Seedream image (OpenAI + AI/ML fields)

Handlers only read the body, translate, call ``TaskService`` and render; errors become the
vendor's envelope in ``envelope.py``. Every task response carries
``X-Framecast-Engine``.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from framecast.core.errors import FramecastError, InvalidInput, InvalidState, NotFound
from framecast.core.task import Task, TaskStatus
from framecast.dialects.openai import body, images, paging, translate, wire
from framecast.dialects.openai.envelope import ENVELOPE
from framecast.edge.auth import Owner, require_owner
from framecast.edge.state import task_service
from framecast.media import thumbnail

ENGINE_HEADER = "X-Framecast-Engine"
POLL_AFTER_HEADER = "openai-poll-after-ms"
POLL_AFTER_MS = 1000
DELETE_WAIT_S = 10.0           # how long DELETE waits for an unfinished video to stop
VARIANTS: dict[str, str] = {"video": "video/mp4", "thumbnail": "image/webp",
                            "spritesheet": "image/jpeg", "last_frame": "image/png"}

router = APIRouter(prefix="/v1", route_class=ENVELOPE.route, tags=["openai"])
OwnerDep = Annotated[Owner, Depends(require_owner)]


def _render(model: BaseModel, task: Task, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"),
                        headers={ENGINE_HEADER: task.engine, **(headers or {})})


async def _body(request: Request) -> dict[str, Any]:
    limits = task_service(request).limits
    return await body.read_body(request, max_file_bytes=limits.fetch.max_bytes,
                                max_field_bytes=limits.max_body_bytes)


def _video_task(request: Request, video_id: str, owner: Owner) -> Task:
    """The caller's video task, created through any dialect (an image task is not a video)."""
    try:
        task = task_service(request).get(video_id, owner_id=owner.id)
    except NotFound:
        task = None
    if task is None or task.kind != "video":
        raise NotFound(f"No video found with id '{video_id}'.", param="video_id",
                       task_id=video_id)
    return task


@router.post("/videos", response_model=wire.Video)
async def create_video(request: Request, owner: OwnerDep) -> JSONResponse:
    """Create a video job from a prompt and optional reference images."""
    service = task_service(request)
    req = translate.parse_create(await _body(request))
    spec = translate.video_spec_from_wire(req, service.registry)
    task = await service.create_video(spec, owner_id=owner.id, dialect=translate.DIALECT)
    return _render(translate.video_object(task), task)


@router.get("/videos", response_model=wire.VideoList)
def list_videos(request: Request, owner: OwnerDep, after: str | None = None,
                limit: Annotated[int, Query()] = paging.LIMIT_DEFAULT,
                order: str = "desc") -> JSONResponse:
    """The caller's videos (from every dialect), newest first unless ``order=asc``."""
    tasks, has_more = paging.page_videos(task_service(request), owner.id, after=after or None,
                                         limit=limit, order=order)
    return JSONResponse(translate.video_list(tasks, has_more).model_dump(mode="json"))


@router.get("/videos/{video_id}", response_model=wire.Video)
def retrieve_video(video_id: str, request: Request, owner: OwnerDep) -> JSONResponse:
    """One video job; ``openai-poll-after-ms`` tells the SDK's poller how long to wait."""
    task = _video_task(request, video_id, owner)
    return _render(translate.video_object(task), task, {POLL_AFTER_HEADER: str(POLL_AFTER_MS)})


@router.delete("/videos/{video_id}", response_model=wire.VideoDeleted)
async def delete_video(video_id: str, request: Request, owner: OwnerDep) -> JSONResponse:
    """Delete a video and its files; an unfinished one is cancelled first (queued: at once;
    running: killed, waited for up to ``DELETE_WAIT_S``)."""
    service = task_service(request)
    task = await anyio.to_thread.run_sync(_video_task, request, video_id, owner)
    if not task.terminal:
        try:
            await anyio.to_thread.run_sync(lambda: service.cancel(video_id, owner_id=owner.id))
        except InvalidState:
            pass                      # it finished meanwhile
        task = await service.wait(video_id, owner_id=owner.id, timeout_s=DELETE_WAIT_S)
        if not task.terminal:
            raise InvalidState(f"Video '{video_id}' is being cancelled and is not stopped yet; "
                               "retry the delete in a few seconds.", param="video_id")
    await anyio.to_thread.run_sync(lambda: service.delete(video_id, owner_id=owner.id))
    return _render(wire.VideoDeleted(id=video_id), task)


@router.get("/videos/{video_id}/content")
async def download_content(video_id: str, request: Request, owner: OwnerDep,
                           variant: str = "video") -> Response:
    """The finished video's bytes, or a preview made from them."""
    if variant not in VARIANTS:
        raise InvalidInput(f"Invalid value for 'variant': must be one of "
                           f"{', '.join(VARIANTS)}, got {variant[:20]!r}.", param="variant")
    task = await anyio.to_thread.run_sync(_video_task, request, video_id, owner)
    if task.status != TaskStatus.SUCCEEDED:
        raise NotFound(f"Video '{video_id}' has no content: it is "
                       f"{translate.STATUSES[task.status]}.", param="video_id",
                       code="VideoNotReady")
    data = await anyio.to_thread.run_sync(_content, request, task, variant)
    return Response(data, media_type=VARIANTS[variant], headers={ENGINE_HEADER: task.engine})


def _content(request: Request, task: Task, variant: str) -> bytes:
    service = task_service(request)
    name = translate.LAST_FRAME_FILE if variant == "last_frame" else translate.VIDEO_FILE
    data = service.file_bytes(task, name)
    if data is None:
        hint = " (create the video with return_last_frame=true)" if variant == "last_frame" \
            else ""
        raise NotFound(f"Video '{task.id}' has no {variant}{hint}.", param="variant")
    if variant == "thumbnail":
        return thumbnail.thumbnail_webp(data)
    if variant == "spritesheet":
        return thumbnail.spritesheet_jpeg(data)
    return data


@router.post("/images/generations", response_model=wire.ImagesResponse)
async def generate_images(request: Request, owner: OwnerDep) -> JSONResponse:
    """Generate one Seedream image synchronously (OpenAI and AI/ML API clients alike)."""
    service = task_service(request)
    req = translate.parse(wire.ImageGenerateRequest, await _body(request))
    spec = images.image_spec_from_wire(req)
    task = await service.generate_image(spec, owner_id=owner.id, dialect=translate.DIALECT)
    if task.status != TaskStatus.SUCCEEDED:
        if not task.terminal:
            await anyio.to_thread.run_sync(_cancel_quietly, request, task, owner)
        raise images.image_task_error(task, service.limits.image_wait_s)
    item = await anyio.to_thread.run_sync(_image_item, request, task, spec.response_format)
    return _render(images.images_response(task, item), task)


def _image_item(request: Request, task: Task, response_format: str) -> wire.ImageItem:
    service = task_service(request)
    name = images.image_output_name(task) or images.IMAGE_FILE
    if response_format == "b64_json":
        return images.image_item(url=None, data=service.file_bytes(task, name))
    return images.image_item(url=service.file_url(task, name), data=None)


def _cancel_quietly(request: Request, task: Task, owner: Owner) -> None:
    """Stop an image task the client no longer waits for (best effort)."""
    try:
        task_service(request).cancel(task.id, owner_id=owner.id)
    except FramecastError:
        pass
