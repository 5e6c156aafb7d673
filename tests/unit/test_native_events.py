"""The native event stream's id scheme and step synthesis (``framecast.native.events``):
every step of every round exactly once and in order, across polls that skip steps, across
reconnects with ``Last-Event-ID``, and across re-runs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
import pytest

from framecast.core.errors import NotFound
from framecast.core.task import OutputFile, Task, TaskStatus
from framecast.native import events
from framecast.native.events import TaskEvent, event_id, pending, split_event_id


def make_task(status: str, *, attempt: int = 0, step: int = 0, total: int = 0,
              **fields: object) -> Task:
    """A task row as the store would return it."""
    return Task(id="cgt-1", owner_id="o", kind="video", model="m", engine="motion",
                status=TaskStatus(status), spec={}, attempt=attempt, step=step,
                total_steps=total, progress=step / total if total else 0.0,
                created_at=100.0, started_at=110.0 if attempt else None, **fields)


def file_url(task: Task, name: str) -> str:
    return f"https://files.test/{task.id}/{name}"


def follow(snapshots: list[Task], cursor: int = 0) -> list[TaskEvent]:
    """What a client sees polling these rows in order (the stream's loop, without I/O)."""
    seen: list[TaskEvent] = []
    for task in snapshots:
        for event in pending(task, cursor):
            seen.append(event)
            cursor = event.id
    return seen


def steps_of(seen: list[TaskEvent], round_: int) -> list[int]:
    return [e.step for e in seen if e.event == "progress" and split_event_id(e.id)[0] == round_]


# ---- ids -----------------------------------------------------------------------------------


def test_event_ids_round_trip_and_order() -> None:
    assert event_id(1, 0) == 10_000_000
    assert event_id(2, 1, 37) == 21_000_037
    assert split_event_id(21_000_037) == (2, 1, 37)
    ordered = [event_id(1, 0), event_id(1, 1), event_id(1, 1, 1), event_id(1, 1, 999),
               event_id(2, 0), event_id(2, 1, 5), event_id(3, 2)]
    assert ordered == sorted(ordered)


@pytest.mark.parametrize(("header", "cursor"), [
    (None, 0), ("", 0), ("abc", 0), ("-5", 0), (" 11000007 ", 11_000_007), ("9" * 40, 0)])
def test_parse_last_event_id(header: str | None, cursor: int) -> None:
    assert events.parse_last_event_id(header) == cursor


# ---- history -------------------------------------------------------------------------------


def test_queued_task_has_one_status_event() -> None:
    [only] = events.history(make_task("queued"))
    assert (only.id, only.event, only.status) == (10_000_000, "status", "queued")


def test_running_task_replays_its_round_with_every_step() -> None:
    history = events.history(make_task("running", attempt=1, step=7, total=20))
    assert [e.event for e in history[:2]] == ["status", "status"]
    assert [e.status for e in history[:2]] == ["queued", "running"]
    assert [e.step for e in history[2:]] == list(range(1, 8))
    assert [e.id for e in history] == sorted({e.id for e in history})


def test_succeeded_task_ends_with_done_after_its_last_step() -> None:
    history = events.history(make_task("succeeded", attempt=1, step=20, total=20))
    assert history[-1].event == "done" and history[-1].id == 22_000_000
    assert [e.step for e in history if e.event == "progress"] == list(range(1, 21))


def test_polls_that_skip_steps_still_show_every_step_once() -> None:
    rows = [make_task("queued"), make_task("running", attempt=1),
            make_task("running", attempt=1, step=12, total=49),
            make_task("running", attempt=1, step=12, total=49),
            make_task("running", attempt=1, step=31, total=49),
            make_task("succeeded", attempt=1, step=49, total=49)]
    seen = follow(rows)
    assert [(e.event, e.status) for e in seen[:2]] == [("status", "queued"),
                                                        ("status", "running")]
    assert steps_of(seen, 1) == list(range(1, 50))
    assert seen[-1].event == "done" and seen[-1].status == "succeeded"
    assert [e.id for e in seen] == sorted({e.id for e in seen})


def test_reconnect_with_last_event_id_resumes_right_after_it() -> None:
    rows = [make_task("running", attempt=1, step=10, total=40),
            make_task("running", attempt=1, step=25, total=40),
            make_task("succeeded", attempt=1, step=40, total=40)]
    first = follow(rows[:1])
    cursor = first[-1].id                       # the client drops after step 10 …
    second = follow(rows[1:], cursor=cursor)    # … and comes back when step 25 is stored
    assert second[0].step == 11
    seen = first + second
    assert steps_of(seen, 1) == list(range(1, 41))
    assert len({e.id for e in seen}) == len(seen)


def test_a_rerun_starts_a_new_step_sequence_above_the_old_one() -> None:
    rows = [make_task("running", attempt=1, step=5, total=10),
            make_task("queued", attempt=1),                        # lease lapsed: re-queued
            make_task("running", attempt=2, step=3, total=10),
            make_task("succeeded", attempt=2, step=10, total=10)]
    seen = follow(rows)
    assert steps_of(seen, 1) == [1, 2, 3, 4, 5]
    assert steps_of(seen, 2) == list(range(1, 11))
    assert [e.id for e in seen] == sorted(e.id for e in seen)
    statuses = [e.status for e in seen if e.event == "status"]
    assert statuses == ["queued", "running", "queued", "running"]
    assert seen[-1].id == event_id(3, 2)


@pytest.mark.parametrize("attempt", [0, 1, 2])
def test_cancelled_while_queued_ends_above_its_queued_event(attempt: int) -> None:
    queued = pending(make_task("queued", attempt=attempt), 0)
    done = pending(make_task("cancelled", attempt=attempt), queued[-1].id)
    assert [e.event for e in done] == ["done"]
    assert done[0].id > queued[-1].id


def test_failed_task_shows_the_steps_it_reached() -> None:
    seen = follow([make_task("running", attempt=1, step=1, total=10),
                   make_task("failed", attempt=1, step=3, total=10,
                             error_code="InternalServiceError", error_message="boom")])
    assert steps_of(seen, 1) == [1, 2, 3]
    assert seen[-1].event == "done" and seen[-1].status == "failed"


# ---- data ----------------------------------------------------------------------------------


def test_event_data_progress_eta_outputs_and_error() -> None:
    running = make_task("running", attempt=1, step=10, total=40)
    progress = next(e for e in events.history(running) if e.step == 10)
    data = events.event_data(running, progress, file_url, now=130.0)   # 20 s for 10 steps
    assert data["progress"] == 25.0 and data["eta_s"] == 60.0
    assert data["task_id"] == "cgt-1" and data["error"] is None and "outputs" not in data

    out = OutputFile(name="video.mp4", key="tasks/cgt-1/1/video.mp4", content_type="video/mp4",
                     size_bytes=9, width=864, height=480, frames=49, fps=24)
    done_task = make_task("succeeded", attempt=1, step=40, total=40, outputs=[out],
                          finished_at=150.0)
    done = events.history(done_task)[-1]
    data = events.event_data(done_task, done, file_url, now=200.0)
    assert data["progress"] == 100.0 and data["eta_s"] == 0.0
    assert data["outputs"][0]["url"] == "https://files.test/cgt-1/video.mp4"
    assert data["outputs"][0]["frames"] == 49

    failed = make_task("failed", attempt=1, error_code="Boom", error_message="it broke")
    data = events.event_data(failed, events.history(failed)[-1], file_url, now=200.0)
    assert data["error"] == {"code": "Boom", "message": "it broke"} and data["outputs"] == []


def test_format_event_is_one_sse_block() -> None:
    event = TaskEvent(11_000_003, "progress", "running", 3, 9)
    text = events.format_event(event, {"step": 3}).decode()
    assert text == 'id: 11000003\nevent: progress\ndata: {"step":3}\n\n'


# ---- the stream ----------------------------------------------------------------------------


def run_stream(rows: list[Task | Exception], cursor: int = 0, *, ping_s: float = 15.0,
               tick_s: float = 0.0) -> list[str]:
    """Drive ``events.stream`` over a scripted sequence of reads; the blocks it sent."""
    reads: Iterator[Task | Exception] = iter(rows)
    now = [0.0]

    def load() -> Task:
        item = next(reads)
        if isinstance(item, Exception):
            raise item
        return item

    def clock() -> float:
        now[0] += tick_s
        return now[0]

    async def collect() -> list[str]:
        return [chunk.decode() async for chunk in events.stream(
            load, file_url, cursor, poll_s=0, ping_s=ping_s, clock=clock)]

    return anyio.run(collect)


def test_stream_sends_retry_then_events_and_ends_after_done() -> None:
    rows: list[Task | Exception] = [make_task("queued"),
                                    make_task("running", attempt=1, step=2, total=3),
                                    RuntimeError("database hiccup"),
                                    make_task("succeeded", attempt=1, step=3, total=3)]
    blocks = run_stream(rows)
    assert blocks[0] == "retry: 1000\n\n"
    names = [b.split("\n")[1] for b in blocks[1:]]
    assert names == ["event: status", "event: status", "event: progress", "event: progress",
                     "event: progress", "event: done"]
    last = json.loads(blocks[-1].split("data: ", 1)[1])
    assert last["status"] == "succeeded" and last["outputs"] == []


def test_stream_pings_when_quiet_and_ends_when_the_task_is_deleted() -> None:
    queued = make_task("queued")
    blocks = run_stream([queued, queued, queued, NotFound("gone")], ping_s=1.0, tick_s=1.0)
    assert ": ping\n\n" in blocks
    assert not any("event: done" in b for b in blocks)


def test_stream_after_done_was_seen_ends_at_once() -> None:
    done_task = make_task("succeeded", attempt=1, step=3, total=3)
    cursor = events.history(done_task)[-1].id
    assert run_stream([done_task], cursor) == ["retry: 1000\n\n"]


def test_history_ignores_a_step_beyond_total() -> None:
    odd = make_task("running", attempt=1, step=12, total=10)
    assert max(e.step for e in events.history(odd)) == 10
