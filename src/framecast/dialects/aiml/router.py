"""The AI/ML API HTTP surface for Seedance video (api.aimlapi.com).

    POST /v2/video/generations                        create → {"id", "status": "queued"}
    GET  /v2/video/generations?generation_id=...      the generation object
    POST /v2/generate/video/bytedance/generation      the vendor's legacy path, same semantics
    GET  /v2/generate/video/bytedance/generation?generation_id=...

Seedream images (``POST /v1/images/generations``) are answered by the OpenAI dialect's
shared handler. Handlers only translate, call ``TaskService`` and render; errors become the
vendor's envelope in ``envelope.py``. Every task response carries ``X-Framecast-Engine``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from framecast.core.errors import InvalidInput, MissingInput, NotFound
from framecast.core.task import Task
from framecast.dialects.aiml import translate, wire
from framecast.dialects.aiml.envelope import ENVELOPE
from framecast.edge.auth import Owner, require_owner
from framecast.edge.body import body_read_error, loads
from framecast.edge.state import task_service

ENGINE_HEADER = "X-Framecast-Engine"
PATHS: tuple[str, ...] = ("/v2/video/generations", "/v2/generate/video/bytedance/generation")

router = APIRouter(route_class=ENVELOPE.route, tags=["aiml"])
OwnerDep = Annotated[Owner, Depends(require_owner)]


def _render(model: BaseModel, task: Task) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), headers={ENGINE_HEADER: task.engine})


async def _json_body(request: Request) -> Any:
    """The request body as JSON (400 naming ``body`` when it is not)."""
    try:
        raw = await request.body()
    except Exception as exc:
        raise body_read_error(exc) or InvalidInput(
            f"the request body could not be read ({exc})", param="body") from None
    if not raw.strip():
        raise MissingInput("Required (the request body is empty)", param="body")
    try:
        return loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON ({exc})", param="body") from None


async def create_generation(request: Request, owner: OwnerDep) -> JSONResponse:
    """Create a Seedance video generation."""
    service = task_service(request)
    body = translate.parse_request(await _json_body(request))
    entry = service.registry.resolve(body.model, kind="video")
    spec = translate.video_spec_from_wire(body, resolutions=entry.resolutions)
    task = await service.create_video(spec, owner_id=owner.id, dialect=translate.DIALECT)
    return _render(translate.created(task), task)


def get_generation(request: Request, owner: OwnerDep,
                   generation_id: Annotated[str | None, Query()] = None) -> JSONResponse:
    """One video generation of the caller, created through any dialect."""
    if not generation_id:
        raise MissingInput("Required", param="generation_id")
    try:
        task = task_service(request).get(generation_id, owner_id=owner.id)
    except NotFound:
        task = None
    if task is None or task.kind != "video":
        raise NotFound(f"Generation with id {generation_id} not found",
                       param="generation_id", task_id=generation_id)
    return _render(translate.generation(task, task_service(request).file_url), task)


for _path in PATHS:
    router.add_api_route(_path, create_generation, methods=["POST"],
                         response_model=wire.CreatedGeneration)
    router.add_api_route(_path, get_generation, methods=["GET"], response_model=wire.Generation)
