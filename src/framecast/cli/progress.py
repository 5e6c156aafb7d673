"""What the client commands show a person: a rich progress bar (percentage, step, ETA) on
stderr, one-line task summaries and a task table. Nothing here goes to stdout in ``--json``
mode: the commands print JSON themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from framecast.client import Task, TaskEvent, TaskList


def format_eta(seconds: float | None) -> str:
    """``ETA 1:05`` / ``ETA --`` for a number of seconds left."""
    if seconds is None:
        return "ETA --"
    whole = max(0, round(seconds))
    return f"ETA {whole // 60}:{whole % 60:02d}"


class ProgressBar:
    """``with ProgressBar(task) as bar: ... bar.update(event)``; draws nothing when disabled
    or when stderr is not a terminal (a script's captured stderr keeps only real messages)."""

    def __init__(self, task: Task, *, enabled: bool = True) -> None:
        self.task_id = task.id
        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self._progress: Progress | None = None
        self._bar: TaskID | None = None
        self._first = task

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                TaskProgressColumn(), TextColumn("{task.fields[steps]}"),
                TextColumn("{task.fields[eta]}"), TimeElapsedColumn(),
                console=self.console, transient=False)
            self._progress.start()
            self._bar = self._progress.add_task(self._label(self._first.status), total=100.0,
                                                completed=self._first.progress, steps="",
                                                eta=format_eta(None))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _label(self, status: str) -> str:
        return f"{self.task_id} {status}"

    def update(self, event: TaskEvent) -> None:
        """Show one event (the SDK's ``on_progress``)."""
        if self._progress is None or self._bar is None:
            return
        steps = f"step {event.step}/{event.total_steps}" if event.total_steps else ""
        self._progress.update(self._bar, description=self._label(event.status),
                              completed=event.progress, steps=steps,
                              eta=format_eta(event.eta_s))


def describe_task(task: Task, *, detail: bool = False) -> str:
    """A one-line summary (and, with ``detail``, one line per output)."""
    parts = [task.id, task.status, f"{task.kind} {task.model} (engine {task.engine})"]
    if task.status in ("queued", "running"):
        parts.append(f"{task.progress:.0f}%")
    if task.error is not None:
        parts.append(f"{task.error.code}: {task.error.message}")
    if task.finished_at and task.created_at:
        parts.append(f"{task.finished_at - task.created_at:.1f} s")
    lines = [" · ".join(parts)]
    if detail:
        for out in task.outputs:
            shape = f"{out.width}x{out.height}" if out.width else ""
            if out.frames:
                shape += f", {out.frames} frames @ {out.fps} fps"
            lines.append(f"  {out.name} ({shape}, {out.size_bytes} bytes) {out.url}")
    return "\n".join(lines)


def task_table(page: TaskList) -> None:
    """Print a page of tasks as a table on stdout."""
    table = Table(title=f"{len(page.items)} of {page.total} tasks")
    table.add_column("id", no_wrap=True)
    for name in ("status", "kind", "model", "progress", "created"):
        table.add_column(name)
    for task in page.items:
        created = datetime.fromtimestamp(task.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(task.id, task.status, task.kind, task.model, f"{task.progress:.0f}%",
                      created)
    Console().print(table)
