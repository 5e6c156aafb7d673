"""Wiro's WebSocket: live task events at ``ws://<host>/v1`` (the hosted service's
``wss://socket.wiro.ai/v1``).

A client connects, sends ``{"type": "task_info", "tasktoken": "<socketaccesstoken>"}`` and
receives ``{"type": <status>, "id", "tasktoken", "message", "result": true}`` messages:

    task_queue → task_accept → task_preprocess_start → task_preprocess_end → task_assign
    → task_start → task_output (progress, repeated) → task_output_full → task_end
    → task_postprocess_start → task_postprocess_end (message: the outputs array)

``task_preprocess_start`` comes when a worker claims the task and ``task_preprocess_end``
once its engine reports its first step: in between the worker prepares the inputs (decodes
the images as sent, applies their EXIF orientation, fits them).

or ``task_error_full`` (``{"raw": <error>}``) before ``task_end`` for a failed task, or
``task_cancel`` for a cancelled or expired one. Progress messages carry
``{"type": "progressGenerate", "task": "Generate", "percentage": "60", "stepCurrent": "6",
"stepTotal": "10", "speed", "speedType", "elapsedTime", "remainingTime"}``, sent only when
the percentage grows. The server reads the task about four times a second and closes the
socket after the final event. The token is the credential (as on Wiro): no API key.
An unknown token is answered ``{"type": "task_info", "result": false, "message": "There is
no task yet."}`` and the socket closed (code 1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import anyio
from fastapi import WebSocket, WebSocketDisconnect

from framecast.core.errors import NotFound
from framecast.core.task import Task, TaskStatus
from framecast.db.task_extras import TaskExtras
from framecast.dialects.wiro import translate, wire
from framecast.dialects.wiro.envelope import NO_TASK
from framecast.edge.body import loads
from framecast.edge.state import task_service

log = logging.getLogger("framecast.wiro")

POLL_S = 0.25                  # how often a socket reads its task (about 4 per second)
REGISTER_TIMEOUT_S = 30.0      # a client must send task_info within this
CLAIMED = ("task_accept", "task_preprocess_start")          # a worker took the task
GENERATING = ("task_preprocess_end", "task_assign", "task_start")   # inputs decoded, engine on
FINISHED = ("task_end", "task_postprocess_start")


class SocketTracker:
    """Turns successive reads of one task into the messages a client has not seen yet."""

    def __init__(self, extras: TaskExtras) -> None:
        self.extras = extras
        self.sent: set[str] = set()
        self.percent = -1

    def _message(self, task: Task, kind: str, message: Any = None) -> dict[str, Any]:
        return wire.SocketMessage(type=kind, id=task.id, tasktoken=self.extras.access_token
                                  or "", message=message).model_dump(mode="json")

    def _once(self, out: list[dict[str, Any]], task: Task, kind: str,
              message: Any = None) -> None:
        if kind not in self.sent:
            self.sent.add(kind)
            out.append(self._message(task, kind, message))

    def advance(self, task: Task, file_url: Any, now: float | None = None) -> list[dict]:
        """The messages for ``task`` as it is now."""
        out: list[dict[str, Any]] = []
        if task.status == TaskStatus.QUEUED:
            self._once(out, task, "task_queue")
            return out
        if task.status in (TaskStatus.CANCELLED, TaskStatus.EXPIRED):
            self._once(out, task, "task_cancel")
            return out
        for kind in CLAIMED:
            self._once(out, task, kind)
        if not task.total_steps and not task.terminal:
            return out        # the worker is still preparing the inputs (fetch, decode, fit)
        for kind in GENERATING:
            self._once(out, task, kind)
        percent = translate.percentage(task)
        if task.total_steps and percent > self.percent:
            self.percent = percent
            out.append(self._message(task, "task_output", progress(task, now)))
        if task.status == TaskStatus.SUCCEEDED:
            self._once(out, task, "task_output_full", {"raw": translate.debug_output(task)})
        elif task.status == TaskStatus.FAILED:
            self._once(out, task, "task_error_full", {"raw": translate.debug_error(task)})
        if task.terminal:
            for kind in FINISHED:
                self._once(out, task, kind)
            files = translate.outputs(task, self.extras, file_url)
            self._once(out, task, "task_postprocess_end",
                       [f.model_dump(mode="json") for f in files])
        return out


def progress(task: Task, now: float | None = None) -> dict[str, str]:
    """A ``task_output`` progress message in Wiro's ``progressGenerate`` shape."""
    total = task.total_steps or 1
    step = total if task.status == TaskStatus.SUCCEEDED else task.step
    elapsed = max(0.0, (now or time.time()) - (task.started_at or now or time.time()))
    speed = step / elapsed if elapsed > 0 else 0.0
    remaining = (total - step) / speed if speed > 0 else 0.0
    return {"type": "progressGenerate", "task": "Generate",
            "percentage": str(translate.percentage(task)), "stepCurrent": str(step),
            "stepTotal": str(total), "speed": f"{speed:.2f}", "speedType": "it/s",
            "elapsedTime": f"{elapsed:.0f}s", "remainingTime": f"{remaining:.0f}s"}


async def socket_endpoint(websocket: WebSocket) -> None:
    """``/v1``: register with ``task_info``, then follow the task until it is final."""
    await websocket.accept()
    try:
        extras = await _register(websocket)
        if extras is None:
            return
        await _follow(websocket, extras)
    except WebSocketDisconnect:
        return
    except Exception:
        log.exception("wiro socket failed")
        with contextlib.suppress(Exception):
            await websocket.close(code=1011)


async def _register(websocket: WebSocket) -> TaskExtras | None:
    try:
        with anyio.fail_after(REGISTER_TIMEOUT_S):
            text = await websocket.receive_text()
        request = loads(text)
    except (TimeoutError, ValueError):
        request = None
    token = request.get("tasktoken") if isinstance(request, dict) else None
    if not isinstance(request, dict) or request.get("type") != "task_info" or \
            not isinstance(token, str) or not token:
        await _refuse(websocket, 'send {"type": "task_info", "tasktoken": "<socketaccesstoken>"}')
        return None
    extras = await anyio.to_thread.run_sync(task_service(websocket).record_by_token, token)
    if extras is None:
        await _refuse(websocket, NO_TASK)
    return extras


async def _refuse(websocket: WebSocket, message: str) -> None:
    await websocket.send_json({"type": "task_info", "result": False, "message": message})
    await websocket.close(code=1008)


async def _follow(websocket: WebSocket, extras: TaskExtras) -> None:
    service = task_service(websocket)
    tracker = SocketTracker(extras)
    gone = asyncio.create_task(_until_disconnect(websocket))
    try:
        while not gone.done():
            try:
                task = await anyio.to_thread.run_sync(service.task_of_record, extras)
            except NotFound:       # deleted while followed
                await _refuse(websocket, NO_TASK)
                return
            for message in await anyio.to_thread.run_sync(tracker.advance, task,
                                                          service.file_url):
                await websocket.send_json(message)
            if task.terminal:
                await websocket.close()
                return
            await asyncio.sleep(POLL_S)
    finally:
        gone.cancel()


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away, so that a socket whose
    client left stops polling."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
