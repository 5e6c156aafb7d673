"""Framecast's own webhook endpoints (not part of any vendor's API):

    GET  /framecast/v1/tasks/{id}/webhooks          the task's deliveries and every attempt
    POST /framecast/v1/tasks/{id}/webhooks/replay   deliver again: a new attempt series,
                                                    same ``webhook-id``, body rendered afresh

Authenticated with the API key as ``Authorization: Bearer <key>`` (or Wiro's ``x-api-key``);
owner-scoped: another key's task is 404. Errors use ``{"error": {"code", "message", "type"}}``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from framecast.auth import Authenticator, Owner, bearer_token
from framecast.core.errors import FramecastError, NotFound
from framecast.store.outbox import Attempt, Delivery, Outbox

router = APIRouter(prefix="/framecast/v1", tags=["framecast"])


def _owner(request: Request) -> Owner:
    auth: Authenticator = request.app.state.authenticator
    return auth.owner_for_key(bearer_token(request) or request.headers.get("x-api-key"))


def _outbox(request: Request) -> Outbox:
    return request.app.state.webhooks.outbox


def _error(exc: FramecastError) -> JSONResponse:
    kind = {401: "Unauthorized", 404: "NotFound", 409: "Conflict"}.get(exc.status, "BadRequest")
    return JSONResponse(status_code=exc.status, content={"error": {
        "code": exc.code, "message": exc.message, "type": kind}})


def delivery_view(delivery: Delivery, attempts: list[Attempt]) -> dict[str, Any]:
    """One delivery as the endpoint shows it (never its lease token), with its attempts."""
    view = asdict(delivery)
    view.pop("lease_token", None)
    view["payload_rendered"] = view.pop("payload") is not None
    view["attempts_log"] = [asdict(a) for a in attempts if a.delivery_id == delivery.id]
    return view


def _listing(request: Request, task_id: str) -> dict[str, Any]:
    deliveries, attempts = _outbox(request).for_task(task_id)
    return {"task_id": task_id,
            "deliveries": [delivery_view(d, attempts) for d in deliveries]}


def _owned_task(request: Request, task_id: str) -> Owner:
    owner = _owner(request)
    request.app.state.runtime.service.get(task_id, owner_id=owner.id)   # NotFound if not theirs
    return owner


@router.get("/tasks/{task_id}/webhooks")
async def list_webhooks(task_id: str, request: Request) -> JSONResponse:
    """The task's webhook deliveries (status, attempts, next attempt) and every attempt."""
    try:
        await anyio.to_thread.run_sync(_owned_task, request, task_id)
        return JSONResponse(await anyio.to_thread.run_sync(_listing, request, task_id))
    except FramecastError as exc:
        return _error(exc)


@router.post("/tasks/{task_id}/webhooks/replay")
async def replay_webhooks(task_id: str, request: Request) -> JSONResponse:
    """Deliver the task's webhooks again (new series, same ``webhook-id``)."""
    try:
        owner = await anyio.to_thread.run_sync(_owned_task, request, task_id)
        outbox = _outbox(request)
        replayed = await anyio.to_thread.run_sync(outbox.replay, task_id, owner.id)
        listing = await anyio.to_thread.run_sync(_listing, request, task_id)
        if not listing["deliveries"]:
            raise NotFound(f"task {task_id} has no webhook deliveries (no callback URL, or "
                           "not finished yet)", task_id=task_id)
        if not replayed:
            return JSONResponse(status_code=409, content={"error": {
                "code": "DeliveryInProgress", "type": "Conflict",
                "message": "a delivery attempt is in progress; replay again in a moment"}})
        request.app.state.runtime.queue.webhooks_pending.set()
        return JSONResponse({**listing, "replayed": list(replayed)})
    except FramecastError as exc:
        return _error(exc)
