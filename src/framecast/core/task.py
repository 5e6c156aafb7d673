"""The task state machine and the task record every dialect renders.

    queued ──claim──▶ running ──▶ succeeded | failed | cancelled | expired
       │                 │
       ├─cancel─▶ cancelled   (atomic UPDATE ... WHERE status='queued')
       └─expire─▶ expired     (a queued task past its deadline is never started)

A running task is killed by setting ``cancel_requested``; the worker stops the engine and
writes ``cancelled`` (or ``expired``) fenced by its lease token. A running task whose lease
lapses goes back to ``queued`` (at most ``MAX_RERUNS`` times, then ``failed``).
Terminal states never change.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class TaskStatus(enum.StrEnum):
    """Lifecycle status of a task (the Ark names; other dialects map these)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        """Whether the status can never change again."""
        return self in TERMINAL


TERMINAL = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED,
                      TaskStatus.EXPIRED})

TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.QUEUED: frozenset({TaskStatus.RUNNING, TaskStatus.CANCELLED, TaskStatus.EXPIRED}),
    TaskStatus.RUNNING: frozenset({TaskStatus.QUEUED, TaskStatus.SUCCEEDED, TaskStatus.FAILED,
                                   TaskStatus.CANCELLED, TaskStatus.EXPIRED}),
}

MAX_RERUNS = 2          # orphan re-runs after a lapsed lease or a dead engine child
HEARTBEAT_S = 10.0      # worker heartbeat period
LEASE_S = 45.0          # a claim is held this long without a heartbeat
TIER_PRIORITY = {"default": 0, "flex": 1}   # lower is claimed first
# A list offset is compared with row numbers as a signed 64-bit integer by both stores; a
# larger one is refused where it is read (it was a 500 on SQLite and PostgreSQL).
LIST_OFFSET_MAX = 2**63 - 1


def can_transition(src: TaskStatus, dst: TaskStatus) -> bool:
    """Whether the state machine allows ``src → dst``."""
    return dst in TRANSITIONS.get(src, frozenset())


@dataclass
class OutputFile:
    """One stored output of a task: ``name`` is ``video.mp4``, ``image.png``,
    ``last_frame.png`` …; ``key`` is its storage key."""

    name: str
    key: str
    content_type: str
    size_bytes: int = 0
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    fps: int | None = None
    has_audio: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form stored in the task row."""
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputFile:
        """Inverse of ``to_dict``."""
        return cls(**data)


@dataclass
class Task:
    """A task as stored. ``spec`` is the resolved spec as a JSON dict; ``engine`` and
    ``engine_options`` are what runs it, frozen when it was created; ``dialect`` names the API
    that created it (webhooks render the task in that dialect's shape)."""

    id: str
    owner_id: str
    kind: str                       # "video" | "image"
    model: str                      # the model id as the client sent it
    engine: str                     # the engine that serves it (reported, never hidden)
    status: TaskStatus
    spec: dict[str, Any]
    dialect: str = "ark"
    engine_options: dict[str, Any] | None = None   # frozen at create time (None: before 0004)
    service_tier: str = "default"
    priority: int = 0
    progress: float = 0.0           # 0..1
    step: int = 0
    total_steps: int = 0
    attempt: int = 0                # claims so far
    reruns: int = 0                 # re-queues after a lost lease or a dead child
    cancel_requested: bool = False
    cancel_reason: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    outputs: list[OutputFile] = field(default_factory=list)
    usage_tokens: int = 0
    seed: int | None = None
    callback_url: str | None = None
    worker_id: str | None = None
    created_at: float = 0.0         # unix seconds (float)
    updated_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float = 0.0
    engine_seconds: float = 0.0
    engine_info: dict[str, Any] | None = None   # what the engine reported doing (succeeded)

    @property
    def terminal(self) -> bool:
        """Whether the task can never change again."""
        return self.status.terminal

    def output(self, name: str) -> OutputFile | None:
        """The output named ``name`` (``video.mp4``, ``last_frame.png`` …), if any."""
        return next((o for o in self.outputs if o.name == name), None)
