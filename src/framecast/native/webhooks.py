"""Framecast's own webhook endpoints (not part of any vendor's API):

    GET  /framecast/v1/tasks/{id}/webhooks          the task's deliveries and every attempt
    POST /framecast/v1/tasks/{id}/webhooks/replay   deliver again: a new attempt series,
                                                    same ``webhook-id``, body rendered afresh

Authenticated with the API key as ``Authorization: Bearer <key>`` (or Wiro's ``x-api-key``,
since a Wiro client's tasks have webhooks too); owner-scoped: another key's task is 404.
Errors are the native envelope; a replay while an attempt is in flight is 409
``DeliveryInProgress``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from framecast.core.errors import Conflict, NotFound
from framecast.db.outbox import Attempt, Delivery
from framecast.edge.auth import Owner, bearer_token, owner_of_key
from framecast.edge.state import task_service
from framecast.native.envelope import ENVELOPE

router = APIRouter(route_class=ENVELOPE.route)   # included by router.py under /framecast/v1


async def _owner(request: Request) -> Owner:
    """The caller, from a Bearer key or Wiro's ``x-api-key``."""
    return await owner_of_key(request, bearer_token(request) or request.headers.get("x-api-key"))


OwnerDep = Annotated[Owner, Depends(_owner)]


def delivery_view(delivery: Delivery, attempts: list[Attempt]) -> dict[str, Any]:
    """One delivery as the endpoint shows it (never its lease token), with its attempts."""
    view = asdict(delivery)
    view.pop("lease_token", None)
    view["payload_rendered"] = view.pop("payload") is not None
    view["attempts_log"] = [asdict(a) for a in attempts if a.delivery_id == delivery.id]
    return view


def _listing(request: Request, task_id: str, owner: Owner) -> dict[str, Any]:
    deliveries, attempts = task_service(request).webhook_deliveries(task_id, owner_id=owner.id)
    return {"task_id": task_id,
            "deliveries": [delivery_view(d, attempts) for d in deliveries]}


@router.get("/tasks/{task_id}/webhooks", summary="A task's webhook deliveries")
async def list_webhooks(task_id: str, request: Request, owner: OwnerDep) -> JSONResponse:
    """The task's webhook deliveries (status, attempts, next attempt) and every attempt."""
    return JSONResponse(await anyio.to_thread.run_sync(_listing, request, task_id, owner))


@router.post("/tasks/{task_id}/webhooks/replay", summary="Deliver a task's webhooks again")
async def replay_webhooks(task_id: str, request: Request, owner: OwnerDep) -> JSONResponse:
    """Deliver the task's webhooks again (new series, same ``webhook-id``)."""
    service = task_service(request)
    replayed = await anyio.to_thread.run_sync(
        lambda: service.replay_webhooks(task_id, owner_id=owner.id))
    listing = await anyio.to_thread.run_sync(_listing, request, task_id, owner)
    if not listing["deliveries"]:
        raise NotFound(f"task {task_id} has no webhook deliveries (no callback URL, or "
                       "not finished yet)", task_id=task_id)
    if not replayed:
        raise Conflict("a delivery attempt is in progress; replay again in a moment",
                       code="DeliveryInProgress")
    return JSONResponse({**listing, "replayed": list(replayed)})
