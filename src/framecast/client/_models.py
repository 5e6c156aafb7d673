"""Typed views of what the native API answers. Unknown fields are kept (``extra="allow"``)
so that an SDK older than its server still reads every answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class TaskError(_Model):
    """Why a task failed or expired."""

    code: str
    message: str


class Output(_Model):
    """One output file: a signed, expiring ``url`` and its media facts."""

    name: str
    url: str | None = None
    content_type: str = "application/octet-stream"
    size_bytes: int = 0
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    fps: int | None = None
    has_audio: bool = False


class Task(_Model):
    """A generation task (any dialect's, as the native API shows it)."""

    id: str
    kind: str
    model: str
    engine: str = ""
    dialect: str = ""
    status: str
    progress: float = 0.0
    step: int = 0
    total_steps: int = 0
    eta_s: float | None = None
    seed: int | None = None
    attempt: int = 0
    cancel_requested: bool = False
    service_tier: str = "default"
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    error: TaskError | None = None
    outputs: list[Output] = Field(default_factory=list)
    spec: dict[str, Any] = Field(default_factory=dict)
    usage_tokens: int = 0
    engine_seconds: float = 0.0

    @property
    def terminal(self) -> bool:
        """Whether the task has ended (it can never change again)."""
        return self.status in TERMINAL

    @property
    def succeeded(self) -> bool:
        """Whether the task ended with its outputs."""
        return self.status == "succeeded"

    def output(self, name: str) -> Output | None:
        """The output named ``name`` (``video.mp4``, ``image.png``, ``last_frame.png``)."""
        return next((o for o in self.outputs if o.name == name), None)

    @property
    def primary_output(self) -> Output | None:
        """The main output: the video of a video task, the image of an image task."""
        wanted = "video/" if self.kind == "video" else "image/"
        preferred = self.output("video.mp4" if self.kind == "video" else "image.png")
        return preferred or next((o for o in self.outputs
                                  if o.content_type.startswith(wanted)), None)


class TaskList(_Model):
    """A page of tasks, newest first, and how many match in all."""

    total: int
    items: list[Task]


class DeletedTask(_Model):
    """What deleting a task answers."""

    id: str
    deleted: bool = True
    status: str


class TaskEvent(_Model):
    """One event of a task's stream: ``event`` is ``status``, ``progress`` or ``done``.
    ``id`` is the stream's event id (None for an update learnt by polling)."""

    id: int | None = None
    event: str
    task_id: str
    status: str
    progress: float = 0.0
    step: int = 0
    total_steps: int = 0
    eta_s: float | None = None
    outputs: list[Output] = Field(default_factory=list)
    error: TaskError | None = None

    @classmethod
    def from_task(cls, task: Task) -> TaskEvent:
        """An update made from a polled task."""
        event = "done" if task.terminal else ("progress" if task.step else "status")
        return cls(event=event, task_id=task.id, status=task.status, progress=task.progress,
                   step=task.step, total_steps=task.total_steps, eta_s=task.eta_s,
                   outputs=task.outputs, error=task.error)


class ModelCapabilities(_Model):
    """What a model's engine accepts."""

    kinds: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    max_reference_images: int = 0
    audio: bool = False
    fps: list[int] = Field(default_factory=list)
    resolutions: list[str] = Field(default_factory=list)


class Model(_Model):
    """One model a client may name."""

    id: str
    aliases: list[str] = Field(default_factory=list)
    kind: str
    engine: str
    size_family: str | None = None
    default_resolution: str | None = None
    resolutions: list[str] = Field(default_factory=list)
    default_size: str | None = None
    capabilities: ModelCapabilities | None = None
    weights: str | None = None
    weights_present: bool = True


class UsageGroup(_Model):
    """Counts per status (and ``total``), tokens of succeeded tasks, engine seconds."""

    tasks: dict[str, int] = Field(default_factory=dict)
    tokens: int = 0
    engine_seconds: float = 0.0


class ModelUsage(UsageGroup):
    """Usage of one model (as named in the requests) and kind."""

    model: str
    kind: str


class KindUsage(UsageGroup):
    """Usage of one kind."""

    kind: str


class Usage(UsageGroup):
    """The calling key's usage over ``[since, until)``."""

    key_id: str
    since: float
    until: float
    by_model: list[ModelUsage] = Field(default_factory=list)
    by_kind: list[KindUsage] = Field(default_factory=list)
