"""Unit tests of ``core/task.py``: the state machine."""

from __future__ import annotations

from framecast.core.task import TaskStatus, can_transition


def test_task_state_machine() -> None:
    assert can_transition(TaskStatus.QUEUED, TaskStatus.RUNNING)
    assert can_transition(TaskStatus.RUNNING, TaskStatus.QUEUED)
    assert not can_transition(TaskStatus.SUCCEEDED, TaskStatus.FAILED)
    assert not can_transition(TaskStatus.CANCELLED, TaskStatus.QUEUED)
    assert {s for s in TaskStatus if s.terminal} == {
        TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.EXPIRED}
