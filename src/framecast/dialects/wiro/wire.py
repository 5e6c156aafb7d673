"""The Wiro wire models: what Wiro's clients read, in the vendor's field order.

Every number is a **string** on the wire (``"total": "1"``, ``"size": "202472"``,
``"elapsedseconds": "6.0000"``), as research/api-dialects.md §3.3 and the tool pages show.
Requests are not modelled here: Run takes model-specific parameters as JSON or multipart
form fields (all strings in a form), parsed in ``params.py`` and ``translate.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class ErrorItem(BaseModel):
    """One error: Wiro's code (0 general, 1 no such task, 96 too many tasks) and words."""

    code: int
    message: str


class ErrorResponse(BaseModel):
    """Every Wiro error: HTTP 200 for a refused request (the Wiro contract), else 401, 404,
    405, 429 or 500, always this body."""

    result: Literal[False] = False
    errors: list[ErrorItem]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 404, 405, 429, 500)}


class RunResponse(BaseModel):
    """``POST /Run/{owner}/{model}``: the task id and the token for WebSocket / Detail."""

    result: bool = True
    errors: list[dict[str, Any]] = []
    taskid: str
    socketaccesstoken: str


class TaskOutput(BaseModel):
    """One output file of a finished task."""

    id: str
    name: str
    contenttype: str
    parentid: str = ""
    uuid: str
    size: str
    addedtime: str
    modifiedtime: str
    accesskey: str = ""
    url: str


class TaskItem(BaseModel):
    """One task as ``Task/Detail``, ``Kill``, ``Cancel`` and ``List`` show it (fields in the
    tool pages' order; Framecast's ``engine`` and ``progress`` last)."""

    id: str
    uuid: str
    name: str = ""
    socketaccesstoken: str
    parameters: dict[str, Any]
    debugoutput: str
    debugerror: str
    starttime: str
    endtime: str
    elapsedseconds: str
    status: str
    cps: str
    totalcost: str
    guestid: str | None = None
    projectid: str
    modelid: str
    description: str = ""
    basemodelid: str = "0"
    runtype: str = "model"
    modelfolderid: str = ""
    modelfileid: str = ""
    callbackurl: str
    marketplaceid: str | None = None
    createtime: str
    canceltime: str
    assigntime: str
    accepttime: str
    preprocessstarttime: str
    preprocessendtime: str
    postprocessstarttime: str
    postprocessendtime: str
    pexit: str
    modeldescription: str
    modelslugowner: str
    modelslugproject: str
    outputs: list[TaskOutput]
    size: str
    engine: str                     # Framecast: the engine that served the task
    progress: str                   # Framecast: "0".."100"


class TaskListResponse(BaseModel):
    """``Task/Detail`` and ``Task/List``: ``total`` (a string) and the tasks."""

    result: bool = True
    errors: list[dict[str, Any]] = []
    total: str
    tasklist: list[TaskItem]


class TaskActionResponse(BaseModel):
    """``Task/Kill`` and ``Task/Cancel``: the task after the action."""

    result: bool = True
    errors: list[dict[str, Any]] = []
    tasklist: list[TaskItem]


class SocketMessage(BaseModel):
    """One WebSocket message: ``type`` is the lifecycle status (``task_output`` …);
    ``message`` is null, a progress object, ``{"raw": ...}`` or the outputs array."""

    type: str
    id: str
    tasktoken: str
    message: Any = None
    result: bool = True
