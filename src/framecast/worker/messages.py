"""Messages between the supervisor and an engine child, one small dataclass per event.

    supervisor ──▶ child:  RunTask, Cancel, Shutdown
    child ──▶ supervisor:  Ready, Loaded, Progress, Published, Encoding, Done, Failed, Stopped

A ``RunTask`` gets ``Done``, ``Failed`` or ``Stopped``; or first ``Encoding``: the engine's GPU
work is over and its CPU tail (retiming, H.264) runs on the child's tail thread, so the slot
may send the next ``RunTask`` now; the tail's own ``Done``/``Failed``/``Stopped`` follows,
naming its task. A ``Cancel`` names its task, the running one or one in its tail.

They travel pickled over a ``multiprocessing`` pipe, so they hold only plain data (paths as
strings, outputs as dicts). The supervisor keeps the child's state explicitly
(``ChildState``): LOADING until ``Ready``, READY between tasks, RUNNING while a task runs,
DEFUNCT once it died or was killed (a fresh child replaces it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from framecast.media.images import ImageLimits


class ChildState(enum.StrEnum):
    """What the supervisor knows about one engine child."""

    LOADING = "loading"     # spawned, not yet ready
    READY = "ready"         # idle, engine(s) warm
    RUNNING = "running"     # a task is running
    DEFUNCT = "defunct"     # dead or killed; to be replaced


# ---- supervisor → child ------------------------------------------------------------------

@dataclass(frozen=True)
class RunTask:
    """Run one attempt of a task. ``inputs`` are ``(role, path, param)`` in request order:
    each input image as the client sent it, and the request field it came from (named if it
    cannot be decoded); ``image_limits`` are the operator's limits it is decoded within."""

    task_id: str
    attempt: int
    engine: str
    options: dict[str, Any]
    spec: dict[str, Any]
    inputs: list[tuple[str, str, str]]
    work_dir: str
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    media: list[tuple[str, str, str]] = field(default_factory=list)   # reference clips, as sent


@dataclass(frozen=True)
class Cancel:
    """Stop the running task: the engine's ``cancelled()`` returns True from now on."""

    task_id: str


@dataclass(frozen=True)
class Shutdown:
    """Exit after the current message (graceful stop of an idle child)."""


# ---- child → supervisor ------------------------------------------------------------------

@dataclass(frozen=True)
class Ready:
    """The child started (in its own process group) and waits for work."""

    pid: int


@dataclass(frozen=True)
class Loaded:
    """An engine was built and ``load()`` ran (once per engine and options, then kept warm)."""

    engine: str
    seconds: float


@dataclass(frozen=True)
class Progress:
    """The engine finished ``step`` of ``total`` steps."""

    step: int
    total: int


@dataclass(frozen=True)
class Published:
    """One output file of the running task is written (an ``OutputFileInfo`` as a dict):
    the slot stores it now, so a client streaming the task gets it before the rest."""

    task_id: str
    output: dict[str, Any]


@dataclass(frozen=True)
class Encoding:
    """The task's GPU work is done and its CPU tail runs on the child's tail thread: the
    child takes the next ``RunTask`` now; this task's end follows as its own reply."""

    task_id: str


@dataclass(frozen=True)
class Done:
    """The attempt succeeded. Each output is an ``OutputFileInfo`` as a dict (``name``,
    ``path``, ``content_type``, ``width``, ``height``, ``frames``, ``fps``, ``has_audio``)."""

    task_id: str
    outputs: list[dict[str, Any]]
    seed: int | None
    info: dict[str, Any] = field(default_factory=dict)
    engine_seconds: float = 0.0


@dataclass(frozen=True)
class Failed:
    """The attempt failed in the engine (the child itself is healthy)."""

    task_id: str
    code: str
    message: str
    param: str | None = None
    retryable: bool = False
    transient: bool = False     # the machine, not the task (a full disk): hand it back


@dataclass(frozen=True)
class Stopped:
    """The engine honoured a ``Cancel`` (raised ``Cancelled``); the child stays warm."""

    task_id: str


ToChild = RunTask | Cancel | Shutdown
FromChild = Ready | Loaded | Progress | Published | Encoding | Done | Failed | Stopped
Ended = Done | Failed | Stopped   # a task's last reply
