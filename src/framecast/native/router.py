"""Framecast's own API under ``/framecast/v1`` (Bearer API key; owner-scoped, others → 404).

    POST   /framecast/v1/videos                 create a video task → the task
    POST   /framecast/v1/images                 create an image task → the task (async)
    GET    /framecast/v1/tasks                  list: status, kind, model, limit, offset
    GET    /framecast/v1/tasks/{id}             the task
    GET    /framecast/v1/tasks/{id}/events      Server-Sent Events until done (resumable)
    POST   /framecast/v1/tasks/{id}/cancel      queued → cancelled; running → killed
    DELETE /framecast/v1/tasks/{id}             delete a finished task and its files
    GET    /framecast/v1/models                 models, engines, capabilities, weights
    GET    /framecast/v1/usage                  the key's usage over [since, until)
    GET    /framecast/v1/tasks/{id}/webhooks    webhook deliveries (``webhooks.py``)
    POST   /framecast/v1/tasks/{id}/webhooks/replay

Every task of every dialect can be read here. Errors are ``{"error": {code, message, param}}``
(``envelope.py``). See ``docs/native-api.md``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from framecast.core.errors import InvalidInput, InvalidState
from framecast.core.task import LIST_OFFSET_MAX, Task, TaskStatus
from framecast.edge.auth import Owner, require_owner
from framecast.edge.state import task_service
from framecast.native import events, models, translate, usage, webhooks, wire
from framecast.native.envelope import ENVELOPE, ERROR_RESPONSES

ENGINE_HEADER = "X-Framecast-Engine"
LIST_LIMIT_MAX = 100

router = APIRouter(prefix="/framecast/v1", route_class=ENVELOPE.route, tags=["framecast"],
                   responses=ERROR_RESPONSES)
OwnerDep = Annotated[Owner, Depends(require_owner)]


def _render(request: Request, task: Task, status_code: int = 200) -> JSONResponse:
    body = translate.task_json(task, task_service(request).file_url)
    return JSONResponse(body, status_code=status_code, headers={ENGINE_HEADER: task.engine})


@router.post("/videos", response_model=wire.NativeTask, status_code=201,
             summary="Create a video task")
async def create_video(body: wire.VideoCreate, request: Request, owner: OwnerDep) -> JSONResponse:
    """Queue an image-to-video (or text-to-video) task; answers the queued task. Input images
    are fetched and checked before the answer, so a bad image is a 400 naming its field."""
    spec = translate.video_spec(body)
    task = await task_service(request).create_video(spec, owner_id=owner.id,
                                                   dialect=translate.DIALECT)
    return _render(request, task, 201)


@router.post("/images", response_model=wire.NativeTask, status_code=201,
             summary="Create an image task")
async def create_image(body: wire.ImageCreate, request: Request, owner: OwnerDep) -> JSONResponse:
    """Queue a text-to-image task (asynchronous like videos: follow it with `/events` or GET
    it until it is finished)."""
    spec = translate.image_spec(body)
    task = await task_service(request).create_image(spec, owner_id=owner.id,
                                                   dialect=translate.DIALECT)
    return _render(request, task, 201)


@router.get("/tasks", response_model=wire.TaskList, summary="List tasks")
def list_tasks(
    request: Request, owner: OwnerDep,
    status: Annotated[list[str] | None, Query(description="Repeat or comma-separate.")] = None,
    kind: Annotated[str | None, Query(pattern="^(video|image)$")] = None,
    model: str | None = None,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = 20,
    offset: Annotated[int, Query(ge=0, le=LIST_OFFSET_MAX)] = 0,
) -> JSONResponse:
    """The caller's tasks (every dialect's), newest first."""
    statuses = [s.strip() for item in status or [] for s in item.split(",") if s.strip()]
    known = {s.value for s in TaskStatus}
    for s in statuses:
        if s not in known:
            raise InvalidInput(f"`status` must be one of {', '.join(sorted(known))}, got {s!r}",
                               param="status")
    service = task_service(request)
    total, tasks = service.list(owner.id, statuses=statuses or None, kind=kind,
                                model=model or None, offset=offset, limit=limit)
    items = [translate.task_json(t, service.file_url) for t in tasks]
    return JSONResponse({"total": total, "items": items})


@router.get("/tasks/{task_id}", response_model=wire.NativeTask, summary="Get a task")
def get_task(task_id: str, request: Request, owner: OwnerDep) -> JSONResponse:
    """One task of the caller, with progress, ETA and signed output URLs."""
    return _render(request, task_service(request).get(task_id, owner_id=owner.id))


@router.get("/tasks/{task_id}/events", summary="Follow a task (Server-Sent Events)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`status`, `progress` and `done` events."}})
def task_events(task_id: str, request: Request, owner: OwnerDep,
                last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None
                ) -> StreamingResponse:
    """Every status change and every engine step of the task, in order, ending with `done`.
    Reconnect with `Last-Event-ID` to get exactly what was missed."""
    service = task_service(request)
    service.get(task_id, owner_id=owner.id)       # 404 before the stream starts

    def load() -> Task:
        return service.get(task_id, owner_id=owner.id)

    body = events.stream(load, service.file_url, events.parse_last_event_id(last_event_id))
    return StreamingResponse(body, media_type="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/tasks/{task_id}/cancel", response_model=wire.NativeTask, summary="Cancel a task")
def cancel_task(task_id: str, request: Request, owner: OwnerDep) -> JSONResponse:
    """A queued task is cancelled at once; a running one is killed by its worker within
    seconds (the answer shows `cancel_requested: true`). Cancelling a cancelled task is a
    no-op; a task that already ended otherwise is a 400."""
    service = task_service(request)
    task = service.get(task_id, owner_id=owner.id)
    if task.status == TaskStatus.CANCELLED:
        return _render(request, task)
    if task.terminal:
        raise InvalidState(f"task {task_id} already ended ({task.status.value})", param="id",
                           task_id=task_id)
    return _render(request, service.cancel(task_id, owner_id=owner.id))


@router.delete("/tasks/{task_id}", response_model=wire.DeletedTask, summary="Delete a task")
def delete_task(task_id: str, request: Request, owner: OwnerDep) -> JSONResponse:
    """Delete a task's record and files. A finished task is deleted; a queued one is
    cancelled, then deleted; a running one is a 400: cancel it first (the kill takes a few
    seconds), then delete it."""
    service = task_service(request)
    task = service.get(task_id, owner_id=owner.id)
    if task.status == TaskStatus.RUNNING:
        raise InvalidState(f"task {task_id} is running; cancel it first (POST "
                           f"/framecast/v1/tasks/{task_id}/cancel), then delete it",
                           param="id", task_id=task_id)
    if task.status == TaskStatus.QUEUED:
        service.cancel_queued(task_id, owner_id=owner.id)
    deleted = service.delete(task_id, owner_id=owner.id)
    return JSONResponse(wire.DeletedTask(id=deleted.id, status=deleted.status.value)
                        .model_dump(mode="json"))


@router.get("/models", response_model=wire.ModelList, summary="List models")
def list_models(request: Request, owner: OwnerDep,
                kind: Annotated[str | None, Query(pattern="^(video|image)$")] = None
                ) -> JSONResponse:
    """Every model id a client may send, its engine, what it accepts, and whether its weights
    are on this machine."""
    return JSONResponse(models.list_models(task_service(request).registry, kind)
                        .model_dump(mode="json"))


@router.get("/usage", response_model=wire.Usage, summary="Usage of the calling key")
def get_usage(request: Request, owner: OwnerDep,
              since: Annotated[str | None, Query(description="Unix seconds or ISO 8601.")] = None,
              until: Annotated[str | None, Query(description="Unix seconds or ISO 8601.")] = None
              ) -> JSONResponse:
    """Tasks by status, tokens (succeeded tasks) and engine seconds, by model and kind, of the
    tasks the key created in `[since, until)` (default: all time)."""
    start, end = usage.time_range(since, until)
    rows = task_service(request).usage(owner.id, start, end)
    return JSONResponse(usage.summarize(owner.id, rows, start, end).model_dump(mode="json"))


router.include_router(webhooks.router)   # /tasks/{id}/webhooks, /tasks/{id}/webhooks/replay
