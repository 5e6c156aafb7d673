"""The AceData HTTP API, as ``mcp-seedance`` 2026.4.30.0 calls it (Bearer API key).

    POST /seedance/videos   create a video task: ``{success, task_id, trace_id}`` when
                            asynchronous (``async: true`` or a ``callback_url``); otherwise
                            wait for the video (at most ``SYNC_WAIT_S``) and answer with
                            ``data: [<Ark task object>]``
    POST /seedance/tasks    ``{"id", "action": "retrieve"}`` → one task record;
                            ``{"ids": [...], "action": "retrieve_batch"}`` → ``{items, count}``

Handlers only translate, call ``TaskService`` and render; errors become the AceData envelope
in ``envelope.py``. Task responses carry ``X-Framecast-Engine``.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from framecast.core.errors import NotFound
from framecast.core.task import Task
from framecast.dialects.acedata import translate, wire
from framecast.dialects.acedata.envelope import ENVELOPE
from framecast.edge.auth import Owner, require_owner
from framecast.edge.state import task_service
from framecast.service.tasks import TaskService

DIALECT = translate.DIALECT
ENGINE_HEADER = "X-Framecast-Engine"
SYNC_WAIT_S = 600.0      # how long a synchronous /seedance/videos request waits for its video

router = APIRouter(route_class=ENVELOPE.route, tags=["acedata"])
OwnerDep = Annotated[Owner, Depends(require_owner)]


def _render(model: BaseModel, task: Task | None = None) -> JSONResponse:
    headers = {ENGINE_HEADER: task.engine} if task is not None else None
    return JSONResponse(wire.dump(model), headers=headers)


@router.post("/seedance/videos", response_model=wire.VideosResponse)
async def create_video(body: wire.VideosRequest, request: Request,
                       owner: OwnerDep) -> JSONResponse:
    """Create a Seedance video task; wait for it unless asked to be asynchronous."""
    service = task_service(request)
    spec = translate.video_spec_from_wire(body)
    task = await service.create_video(spec, owner_id=owner.id, dialect=DIALECT)
    if translate.is_async(body):
        return _render(translate.submitted(task), task)
    task = await service.wait(task.id, owner_id=owner.id, timeout_s=SYNC_WAIT_S)
    return _render(translate.finished(task, service.file_url, waited_s=SYNC_WAIT_S), task)


@router.post("/seedance/tasks", response_model=wire.TaskRecord | wire.TasksBatchResponse)
async def query_tasks(body: wire.TasksRequest, request: Request,
                      owner: OwnerDep) -> JSONResponse:
    """Retrieve one task (``retrieve``) or several (``retrieve_batch``) of the caller."""
    service = task_service(request)
    ids = translate.task_ids_of(body)
    if body.action == "retrieve_batch":
        _, tasks = await anyio.to_thread.run_sync(lambda: service.list(
            owner.id, task_ids=ids, kind="video", limit=len(ids)))
        return _render(translate.batch(tasks, ids, service.file_url))
    task = await anyio.to_thread.run_sync(_video_task, service, ids[0], owner)
    return _render(translate.task_record(task, service.file_url), task)


def _video_task(service: TaskService, task_id: str, owner: Owner) -> Task:
    """The caller's video task; ``NotFound`` naming ``id`` otherwise."""
    try:
        task = service.get(task_id, owner_id=owner.id)
    except NotFound:
        task = None
    if task is None or task.kind != "video":
        raise NotFound(f"The task `{task_id}` was not found.", param="id", task_id=task_id)
    return task
