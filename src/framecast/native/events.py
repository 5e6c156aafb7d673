"""Task events for ``GET /framecast/v1/tasks/{id}/events`` (Server-Sent Events), without an
events table.

The event model of one task is small and fully determined by its row: status changes, and one
progress event per engine step. So the events are *derived* from the row each time it is read,
never stored:

* a **round** is one pass through the queue: ``queued → running (steps 1..n)``. A re-run
  (a lapsed lease, a dead engine child) starts a new round with a new step sequence;
* an event id is ``round * 10_000_000 + phase * 1_000_000 + step``, phase 0 queued,
  1 running, 2 done. The round of a queued task is ``attempt + 1`` (the attempt it waits
  for), of a running task ``attempt``; a terminal task's ``done`` has round ``attempt + 1``,
  which is above every id of the last round whichever way the task ended;
* ``history(task)`` lists the events of the task's current round up to the state the row
  shows, in id order. The worker writes progress at most every half second, so the stored
  step may jump by many: the steps in between are synthesized, so that a client sees every
  step exactly once, in order;
* the stream sends the events of ``history`` whose id is above the client's cursor (its
  ``Last-Event-ID``, else 0), polls the row, and sends what is new, until ``done``. A client
  that reconnects with ``Last-Event-ID`` gets exactly what it missed. Steps of an abandoned
  round that a client had not seen are not replayed (that attempt's work was thrown away);
  the new round starts again at ``queued``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from framecast.core.errors import NotFound
from framecast.core.task import Task, TaskStatus
from framecast.native.translate import FileUrl, outputs, percent, task_error

log = logging.getLogger("framecast.native")

ROUND = 10_000_000
PHASE = 1_000_000
QUEUED_PHASE, RUNNING_PHASE, DONE_PHASE = 0, 1, 2
MAX_STEP = PHASE - 1
POLL_S = 0.2            # how often a stream reads its task row
PING_S = 15.0           # a comment line after this much silence keeps proxies from closing
RETRY_MS = 1000         # the reconnection delay suggested to clients


@dataclass(frozen=True)
class TaskEvent:
    """One event of a task's stream (``event`` is ``status``, ``progress`` or ``done``)."""

    id: int
    event: str
    status: str
    step: int
    total_steps: int


def event_id(round_: int, phase: int, step: int = 0) -> int:
    """The id of the event at (round, phase, step)."""
    return round_ * ROUND + phase * PHASE + max(0, min(step, MAX_STEP))


def split_event_id(value: int) -> tuple[int, int, int]:
    """(round, phase, step) of an event id."""
    return value // ROUND, (value % ROUND) // PHASE, value % PHASE


def parse_last_event_id(header: str | None) -> int:
    """The cursor a ``Last-Event-ID`` header names (0, the start, when absent or not ours)."""
    if header is None:
        return 0
    text = header.strip()
    return int(text) if text.isdigit() and len(text) <= 18 else 0


def history(task: Task) -> list[TaskEvent]:
    """The events of the task's current round, up to the state its row shows, in id order."""
    status = task.status.value
    if task.status == TaskStatus.QUEUED:
        round_ = task.attempt + 1
        return [TaskEvent(event_id(round_, QUEUED_PHASE), "status", status, 0, 0)]
    total = max(0, task.total_steps)
    if task.status == TaskStatus.RUNNING:
        round_ = task.attempt
        return _running(round_, min(task.step, total) if total else 0, total)
    # terminal: the round it last ran in (if it ever ran), then done
    last_step = min(task.step, total) if total else 0
    if task.status == TaskStatus.SUCCEEDED:
        last_step = total
    events = _running(task.attempt, last_step, total) if task.attempt > 0 else \
        [TaskEvent(event_id(1, QUEUED_PHASE), "status", TaskStatus.QUEUED.value, 0, 0)]
    events.append(TaskEvent(event_id(task.attempt + 1, DONE_PHASE), "done", status,
                            last_step, total))
    return events


def _running(round_: int, step: int, total: int) -> list[TaskEvent]:
    """queued, running, then one progress event per step ``1..step``, of one round."""
    queued, running = TaskStatus.QUEUED.value, TaskStatus.RUNNING.value
    events = [TaskEvent(event_id(round_, QUEUED_PHASE), "status", queued, 0, 0),
              TaskEvent(event_id(round_, RUNNING_PHASE), "status", running, 0, total)]
    events += [TaskEvent(event_id(round_, RUNNING_PHASE, s), "progress", running, s, total)
               for s in range(1, min(step, MAX_STEP) + 1)]
    return events


def pending(task: Task, cursor: int) -> list[TaskEvent]:
    """The events a client whose last seen id is ``cursor`` has not seen yet."""
    return [e for e in history(task) if e.id > cursor]


def event_eta(task: Task, event: TaskEvent, now: float) -> float | None:
    """Seconds left at ``event``: the running attempt's seconds per step so far times the steps
    left after it (None for status events and before any step)."""
    if event.event != "progress" or task.started_at is None or task.step <= 0:
        return None
    end = task.finished_at if task.finished_at is not None else now
    per_step = max(0.0, end - task.started_at) / task.step
    return round(per_step * max(0, event.total_steps - event.step), 1)


def event_data(task: Task, event: TaskEvent, file_url: FileUrl, now: float) -> dict[str, Any]:
    """The JSON ``data`` of one event."""
    if event.event == "done":
        progress = percent(task)
    elif event.total_steps > 0:
        progress = round(100.0 * event.step / event.total_steps, 2)
    else:
        progress = 0.0
    data: dict[str, Any] = {
        "task_id": task.id, "status": event.status, "progress": progress, "step": event.step,
        "total_steps": event.total_steps,
        "eta_s": 0.0 if event.status == TaskStatus.SUCCEEDED else event_eta(task, event, now),
        "error": None}
    if event.event == "done":
        data["outputs"] = [o.model_dump(mode="json") for o in outputs(task, file_url)]
        error = task_error(task)
        data["error"] = error.model_dump(mode="json") if error else None
    return data


def format_event(event: TaskEvent, data: dict[str, Any]) -> bytes:
    """One event on the wire."""
    payload = json.dumps(data, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.event}\ndata: {payload}\n\n".encode()


async def stream(load: Callable[[], Task], file_url: FileUrl, cursor: int, *,
                 poll_s: float = POLL_S, ping_s: float = PING_S,
                 clock: Callable[[], float] = time.monotonic) -> AsyncIterator[bytes]:
    """The event stream of one task from ``cursor`` on: polls ``load`` (a blocking read,
    run in a worker thread) until ``done`` is sent. Ends quietly if the task is deleted."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    last_sent = clock()
    while True:
        try:
            task = await anyio.to_thread.run_sync(load)
        except NotFound:
            return
        except Exception as exc:   # a database hiccup: try again on the next tick
            log.warning("event stream: reading the task failed (%s: %s)",
                        type(exc).__name__, exc)
            task = None
        if task is not None:
            now = time.time()
            for event in pending(task, cursor):
                data = event_data(task, event, file_url, now)
                yield format_event(event, data)
                cursor, last_sent = event.id, clock()
                if event.event == "done":
                    return
            if task.terminal:    # the client had already seen done
                return
        if clock() - last_sent >= ping_s:
            yield b": ping\n\n"
            last_sent = clock()
        await anyio.sleep(poll_s)
