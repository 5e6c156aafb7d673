"""The Wiro HTTP API (``https://api.wiro.ai/v1``) and its WebSocket:

    POST /v1/Run/{owner}/{model}        run a model (JSON, multipart or url-encoded) → taskid
    POST /v1/Task/Detail                a task by taskid / tasktoken / socketaccesstoken
    POST /v1/Task/Cancel                queued → cancelled (else "not in a cancellable state")
    POST /v1/Task/Kill                  running → killed (task_cancel within seconds)
    POST /v1/Task/InputOutputDelete     delete a finished task's files (idempotent)
    POST /v1/Task/List                  the caller's tasks: start, limit, order, modelName
    WS   /v1                            task events after {"type": "task_info", ...}

Handlers read the parameters, call ``TaskService`` and render; every error becomes the Wiro
envelope in ``envelope.py``. Authentication (``x-api-key``, optionally signed) is in
``auth.py``; an unknown ``/v1/Run|Task|Tool|File/...`` path answers 404 "Error parsing url.".
"""

from __future__ import annotations

import secrets
import string
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from framecast.core.errors import InvalidInput, InvalidState, NotFound
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.core.task import LIST_OFFSET_MAX, Task
from framecast.db.task_extras import TaskExtras
from framecast.dialects.wiro import translate, wire
from framecast.dialects.wiro.auth import wiro_owner
from framecast.dialects.wiro.config import wiro_settings
from framecast.dialects.wiro.envelope import (
    CODE_GENERAL,
    ENVELOPE,
    NO_TASK,
    PARSE_URL_ERROR,
    envelope,
)
from framecast.dialects.wiro.params import Params, read_params
from framecast.edge.auth import Owner
from framecast.edge.state import task_service
from framecast.service.tasks import DialectRecord

DIALECT = translate.DIALECT
ENGINE_HEADER = "X-Framecast-Engine"
TOKEN_CHARS = 30                  # Wiro's socket access tokens: 30 letters and digits
KILL_WAIT_S = 3.0                 # Kill answers once the task is cancelled, or after this
LIST_LIMIT_MAX = 200
SECTIONS = ("Run", "Task", "Tool", "File")
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

router = APIRouter(prefix="/v1", route_class=ENVELOPE.route, tags=["wiro"])
OwnerDep = Annotated[Owner, Depends(wiro_owner)]


def new_token() -> str:
    """A socket access token: random letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(TOKEN_CHARS))


def _render(model: BaseModel, task: Task | None = None) -> JSONResponse:
    headers = {ENGINE_HEADER: task.engine} if task is not None else None
    return JSONResponse(model.model_dump(mode="json"), headers=headers)


def _item(request: Request, task: Task, extras: TaskExtras | None) -> wire.TaskItem:
    return translate.task_item(task, extras, task_service(request).file_url)


def _find(request: Request, params: Params, owner: Owner) -> tuple[Task, TaskExtras | None]:
    """The caller's task named by ``taskid``, ``tasktoken`` or ``socketaccesstoken``."""
    task_id = params.text("taskid")
    token = params.text("tasktoken") or params.text("socketaccesstoken")
    if task_id is None and token is None:
        raise InvalidInput("taskid or socketaccesstoken is required", param="taskid")
    service = task_service(request)
    extras = service.record_of(task_id) if task_id is not None \
        else service.record_by_token(token or "")
    if extras is None and task_id is None:
        raise NotFound(NO_TASK)
    try:
        task = service.get(task_id or extras.task_id,  # type: ignore[union-attr]
                           owner_id=owner.id)
    except NotFound:
        raise NotFound(NO_TASK) from None
    return task, extras


async def _find_async(request: Request, owner: Owner) -> tuple[Params, Task, TaskExtras | None]:
    params = await read_params(request)
    task, extras = await anyio.to_thread.run_sync(_find, request, params, owner)
    return params, task, extras


@router.post("/Run/{owner_slug}/{model_slug}", response_model=wire.RunResponse | wire.ErrorResponse,
             responses=wire.ERROR_RESPONSES)
async def run(owner_slug: str, model_slug: str, request: Request,
              owner: OwnerDep) -> JSONResponse:
    """Run a Seedance (video) or Seedream (image) model; answers the task id and token."""
    params = await read_params(request)
    service, settings = task_service(request), wiro_settings(request)
    ref = translate.resolve_model(service.registry, owner_slug, model_slug)
    token = new_token()

    def record(resolved: VideoSpec | ImageSpec) -> DialectRecord:
        return DialectRecord(access_token=token, data={
            "slugowner": owner_slug, "slugproject": model_slug, "parameters": params.echo(),
            "price": translate.price(resolved, settings.price_video_per_s,
                                     settings.price_per_image)})

    if ref.entry.kind == "video":
        task = await service.create_video(translate.video_spec(ref, params), owner_id=owner.id,
                                          dialect=DIALECT, record=record)
    else:
        task = await service.create_image(translate.image_spec(ref, params), owner_id=owner.id,
                                          dialect=DIALECT, record=record)
    return _render(wire.RunResponse(taskid=task.id, socketaccesstoken=token), task)


@router.post("/Task/Detail", response_model=wire.TaskListResponse | wire.ErrorResponse,
             responses=wire.ERROR_RESPONSES)
async def task_detail(request: Request, owner: OwnerDep) -> JSONResponse:
    """One task of the caller, in a one-item ``tasklist``."""
    _, task, extras = await _find_async(request, owner)
    return _render(translate.detail([_item(request, task, extras)]), task)


@router.post("/Task/Cancel", response_model=wire.TaskActionResponse | wire.ErrorResponse,
             responses=wire.ERROR_RESPONSES)
async def task_cancel(request: Request, owner: OwnerDep) -> JSONResponse:
    """Cancel a queued task (a running one: use Kill)."""
    _, task, extras = await _find_async(request, owner)
    try:
        task = await anyio.to_thread.run_sync(
            lambda: task_service(request).cancel_queued(task.id, owner_id=owner.id))
    except InvalidState:
        raise InvalidState("Task is not in a cancellable state.") from None
    return _render(wire.TaskActionResponse(tasklist=[_item(request, task, extras)]), task)


@router.post("/Task/Kill", response_model=wire.TaskActionResponse | wire.ErrorResponse,
             responses=wire.ERROR_RESPONSES)
async def task_kill(request: Request, owner: OwnerDep) -> JSONResponse:
    """Kill a running (or queued) task; answers once it is ``task_cancel`` (or after
    ``KILL_WAIT_S``, still stopping)."""
    _, task, extras = await _find_async(request, owner)
    service = task_service(request)
    try:
        if task.terminal:
            raise InvalidState("already ended")
        await anyio.to_thread.run_sync(lambda: service.cancel(task.id, owner_id=owner.id))
    except InvalidState:
        raise InvalidState(f"Task could not be killed: it has already ended "
                           f"({translate.wiro_status(task)}).") from None
    task = await service.wait(task.id, owner_id=owner.id, timeout_s=KILL_WAIT_S)
    return _render(wire.TaskActionResponse(tasklist=[_item(request, task, extras)]), task)


@router.post("/Task/InputOutputDelete", responses=wire.ERROR_RESPONSES)
async def task_files_delete(request: Request, owner: OwnerDep) -> JSONResponse:
    """Delete a finished task's input and output files (the record stays); idempotent."""
    _, task, extras = await _find_async(request, owner)
    if not task.terminal:
        raise InvalidState("Task is not in a deletable state: its files can be deleted once "
                           "it has ended.")
    service = task_service(request)
    await anyio.to_thread.run_sync(lambda: service.delete_files(task.id, owner_id=owner.id))
    data = {**(extras.data if extras else {}), "files_deleted": True}
    await anyio.to_thread.run_sync(service.update_record, task.id, DIALECT, data)
    return JSONResponse({"result": True, "errors": []})


@router.post("/Task/List", response_model=wire.TaskListResponse | wire.ErrorResponse,
             responses=wire.ERROR_RESPONSES)
async def task_list(request: Request, owner: OwnerDep) -> JSONResponse:
    """The caller's tasks: ``start``/``limit`` page them, ``order`` DESC (newest first,
    default) or ASC, ``modelName`` filters by ``owner/model`` as sent to Run."""
    params = await read_params(request)
    order = (params.text("order") or "DESC").upper()
    if order not in ("DESC", "ASC"):
        raise InvalidInput("Request parameter [order] must be one of DESC, ASC", param="order")
    start = params.integer("start", 0, LIST_OFFSET_MAX) or 0
    limit = params.integer("limit", 1, LIST_LIMIT_MAX) or 20
    model = params.text("modelName")
    return JSONResponse(await anyio.to_thread.run_sync(
        _list_page, request, owner, model, start, limit, order))


def _list_page(request: Request, owner: Owner, model: str | None, start: int, limit: int,
               order: str) -> dict[str, Any]:
    service = task_service(request)
    if order == "DESC":
        total, tasks = service.list(owner.id, model=model, offset=start, limit=limit)
    else:   # the store pages newest first: take the mirrored page and reverse it
        total, _ = service.list(owner.id, model=model, offset=0, limit=1)
        count = max(0, min(limit, total - start))
        _, tasks = service.list(owner.id, model=model, offset=max(0, total - start - count),
                                limit=count) if count else (total, [])
        tasks = list(reversed(tasks))
    items = [_item(request, t, service.record_of(t.id)) for t in tasks]
    return translate.detail(items, total).model_dump(mode="json")


def _unknown_route(request: Request) -> JSONResponse:
    """404 "Error parsing url." for an unknown path; 405 with ``Allow`` for a known path
    asked with another method (``PUT /v1/Task/Detail``)."""
    path = request.url.path
    allowed = sorted({method for route in router.routes if isinstance(route, APIRoute)
                      and route.include_in_schema and route.path_regex.match(path)
                      for method in route.methods or ()})
    if allowed:
        return envelope(CODE_GENERAL, f"Method {request.method} is not allowed here; use "
                        f"{', '.join(allowed)}.", 405, {"Allow": ", ".join(allowed)})
    return envelope(CODE_GENERAL, PARSE_URL_ERROR, 404)


for _section in SECTIONS:
    router.add_api_route(f"/{_section}/{{rest:path}}", _unknown_route, methods=ALL_METHODS,
                         include_in_schema=False, name=f"wiro_unknown_{_section.lower()}")


