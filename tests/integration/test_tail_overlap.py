"""A GPU engine's CPU tail (retiming, H.264) overlaps the next task: the child replies
``Encoding`` once the frames are on the host, the slot claims the next task for the GPU,
and the first task's end is recorded when its tail has written the files. What a user sees
must not change: each task ends once, with its own outputs; a cancel in the tail ends that
task cancelled without costing the other one anything; a crash reruns both; a lost lease
drops the tail's outputs; a drain waits for the tail.

Runs the real worker (``tests.integration.test_worker``'s ``World``); ``TailEngine`` is
loaded from this module by the spawned child and logs when each phase starts and ends.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy.exc import OperationalError

from framecast.core.task import TaskStatus
from framecast.engines.base import (
    Cancelled,
    Capabilities,
    Engine,
    EngineOutputs,
    outputs_with_tail,
)
from framecast.engines.testing import write_placeholder_outputs
from tests.integration.test_worker import (
    OWNER,
    World,
    child_pid,
    finish_as_thief,
    pid_alive,
    steal,
)
from tests.integration.test_worker import world as world  # the fixture, shared
from tests.polling import eventually

pytestmark = pytest.mark.slow
SLICE_S = 0.05


class TailEngine(Engine):
    """``gpu_s`` seconds of "denoising" (progress, cancel checks), then a deferred tail of
    ``tail_s`` seconds that checks ``cancelled`` each slice and writes the placeholders. It
    appends ``[event, task, time]`` lines to ``log``; ``tail_dies`` SIGKILLs the child in
    the tail of a task's first attempt, ``tail_raises`` fails the tail."""

    name: ClassVar[str] = "tail"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"video"}))

    @classmethod
    def tail_overlaps(cls, options: dict[str, Any] | None = None) -> bool:
        return True   # as a diffusers engine on a GPU

    def run(self, spec: Any, inputs: Any, progress: Any, cancelled: Any) -> EngineOutputs:
        task = inputs.work_dir.parent.name
        attempt = int(inputs.work_dir.name)
        self._log("gpu-start", task)
        slices = max(1, round(float(self.options.get("gpu_s", 1.0)) / SLICE_S))
        for n in range(slices):
            time.sleep(SLICE_S)
            progress(n + 1, slices)
            if cancelled():
                raise Cancelled()
        self._log("gpu-end", task)

        def write(tail_cancelled: Any) -> list[Any]:
            self._log("tail-start", task)
            for n in range(max(1, round(float(self.options.get("tail_s", 1.0)) / SLICE_S))):
                time.sleep(SLICE_S)
                if tail_cancelled():
                    self._log("tail-cancelled", task)
                    raise Cancelled()
                if n == 2 and self.options.get("tail_dies") and attempt == 1:
                    os.kill(os.getpid(), signal.SIGKILL)
                if n == 2 and self.options.get("tail_raises"):
                    raise RuntimeError("the encoder broke")
            files = write_placeholder_outputs(spec, inputs.work_dir)
            self._log("tail-end", task)
            return files

        return outputs_with_tail(inputs, write, seed=spec.seed or 0, info={"engine": "tail"})

    def _log(self, event: str, task: str) -> None:
        with open(self.options["log"], "a") as f:
            f.write(json.dumps([event, task, time.monotonic()]) + "\n")


ENGINE = f"{__name__}:TailEngine"


def events(log: Path) -> dict[tuple[str, str], float]:
    """``(event, task) → time`` of the engine's log (the last of each)."""
    if not log.exists():
        return {}
    return {(e, t): at for e, t, at in map(json.loads, log.read_text().splitlines())}


def pair(world: World, log: Path, first: dict[str, Any],
         second: dict[str, Any]) -> tuple[str, str, int]:
    """Start a worker, queue two ``TailEngine`` tasks, and wait until the second one is on
    the "GPU" (the first one then in its tail, or done); their ids and the child's pid."""
    sup = world.supervisor()
    ids = (world.submit(ENGINE, {"log": str(log), **first}),
           world.submit(ENGINE, {"log": str(log), **second}))
    assert eventually(lambda: ("gpu-start", ids[1]) in events(log), 20)
    return ids[0], ids[1], child_pid(sup)


def test_the_next_task_denoises_while_the_first_ones_tail_is_written(world: World,
                                                                     tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    options = {"log": str(log), "gpu_s": 1.0, "tail_s": 1.5}
    sup = world.supervisor()
    first, second = world.submit(ENGINE, options), world.submit(ENGINE, options)
    for task_id in (first, second):
        task = world.wait(task_id)
        assert task.status is TaskStatus.SUCCEEDED, task
        assert task.attempt == 1 and task.reruns == 0
        video = task.output("video.mp4")
        assert (video.width, video.height, video.frames) == (864, 480, 49)
        assert world.store.exists(f"tasks/{task_id}/1/video.mp4")
        assert task.engine_info is not None and task.engine_info["tail_seconds"] >= 1.4
        assert task.engine_seconds >= 2.4          # its GPU part and its tail
    at = events(log)
    # the second task was on the "GPU" while the first one's tail was written ...
    assert at["gpu-start", second] < at["tail-end", first]
    assert at["gpu-start", second] - at["gpu-end", first] < 0.5
    # ... so the two took less than their four phases one after another (5 s)
    assert at["tail-end", second] - at["gpu-start", first] < 4.5
    # the first task was recorded when its tail ended, not when the second one did
    assert world.queue.get(first).finished_at <= world.queue.get(second).finished_at
    assert eventually(lambda: sup.slot_info()[0].tasks_run == 2, 5)
    assert eventually(lambda: not any(world.work_root.rglob("cgt-test-*")), 5)


def test_a_cancel_in_the_tail_ends_that_task_alone(world: World, tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    sup = world.supervisor()
    first = world.submit(ENGINE, {"log": str(log), "gpu_s": 0.3, "tail_s": 30})
    second = world.submit(ENGINE, {"log": str(log), "gpu_s": 3.0, "tail_s": 0.2})
    assert eventually(lambda: ("tail-start", first) in events(log), 20)
    pid = child_pid(sup)
    started = time.monotonic()
    world.client.cancel(first, OWNER)
    assert world.wait(first, timeout_s=10).status is TaskStatus.CANCELLED
    assert time.monotonic() - started < 3.0        # the tail stopped at its next frame
    assert ("tail-cancelled", first) in events(log)
    assert world.wait(second, timeout_s=20).status is TaskStatus.SUCCEEDED
    assert child_pid(sup) == pid and pid_alive(pid)   # nobody was killed


def test_a_cancel_of_the_running_task_leaves_the_tail_alone(world: World,
                                                            tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    first, second, pid = pair(world, log, {"gpu_s": 0.3, "tail_s": 3.0},
                              {"gpu_s": 30, "tail_s": 0.2})
    assert ("tail-end", first) not in events(log)          # still writing
    world.client.cancel(second, OWNER)
    assert world.wait(second, timeout_s=10).status is TaskStatus.CANCELLED
    assert world.wait(first, timeout_s=10).status is TaskStatus.SUCCEEDED
    assert ("tail-cancelled", first) not in events(log)
    assert world.supervisors[0].slot_info()[0].pid == pid and pid_alive(pid)


def test_a_crash_in_the_tail_reruns_both_tasks(world: World, tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    first, second, pid = pair(world, log, {"gpu_s": 0.3, "tail_s": 1.0, "tail_dies": True},
                              {"gpu_s": 2.0, "tail_s": 0.2})
    for task_id in (first, second):
        task = world.wait(task_id, timeout_s=40)
        assert task.status is TaskStatus.SUCCEEDED, task
        assert task.attempt == 2                      # both ran again, in a fresh child
        assert task.output("video.mp4").key == f"tasks/{task_id}/2/video.mp4"
    assert child_pid(world.supervisors[0]) != pid and not pid_alive(pid)


def test_a_tail_that_raises_fails_its_task_only(world: World, tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    first, second, pid = pair(world, log, {"gpu_s": 0.3, "tail_s": 1.0, "tail_raises": True},
                              {"gpu_s": 1.0, "tail_s": 0.2})
    task = world.wait(first)
    assert task.status is TaskStatus.FAILED
    assert task.error_code == "InternalServiceError"
    assert "RuntimeError: the encoder broke" in (task.error_message or "")
    assert world.wait(second).status is TaskStatus.SUCCEEDED
    assert child_pid(world.supervisors[0]) == pid


def test_a_tail_whose_lease_was_lost_records_nothing(world: World, tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    world.supervisor()
    first = world.submit(ENGINE, {"log": str(log), "gpu_s": 0.3, "tail_s": 30})
    assert eventually(lambda: ("tail-start", first) in events(log), 20)
    claim = steal(world.queue, first)
    # the worker finds out at its next heartbeat and stops the tail
    assert eventually(lambda: ("tail-cancelled", first) in events(log), 10)
    finish_as_thief(world, claim)
    task = world.wait(first)
    assert task.status is TaskStatus.SUCCEEDED and task.worker_id == "w-thief"
    assert not world.store.exists(f"tasks/{first}/1/video.mp4")
    later = world.submit(ENGINE, {"log": str(log), "gpu_s": 0.1, "tail_s": 0.1})
    assert world.wait(later).status is TaskStatus.SUCCEEDED   # the slot carried on


def test_a_drain_waits_for_the_tail(world: World, tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    sup = world.supervisor()
    first = world.submit(ENGINE, {"log": str(log), "gpu_s": 0.3, "tail_s": 2.0})
    assert eventually(lambda: ("tail-start", first) in events(log), 20)
    waiting = world.submit("instant")
    sup.stop(timeout=30)
    task = world.queue.get(first)
    assert task.status is TaskStatus.SUCCEEDED and task.attempt == 1
    assert world.queue.get(waiting).status is TaskStatus.QUEUED
    assert not any(world.work_root.iterdir())


def test_a_drain_that_runs_out_hands_the_tail_back(world: World, tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    sup = world.supervisor()
    first = world.submit(ENGINE, {"log": str(log), "gpu_s": 0.3, "tail_s": 60})
    assert eventually(lambda: ("tail-start", first) in events(log), 20)
    pid = child_pid(sup)
    sup.stop(timeout=0.5)
    task = world.queue.get(first)
    assert task.status is TaskStatus.QUEUED and task.reruns == 0 and task.attempt == 1
    assert not pid_alive(pid)


def test_a_database_error_at_a_tails_end_costs_an_attempt_not_the_slot(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "engine.log"
    world.supervisor(lease_s=3.0)
    real_finish, broken = world.queue.finish, []

    def finish_once_locked(task_id: str, *args: Any, **kwargs: Any) -> Any:
        if not broken:   # "database is locked", once, as the first tail is recorded
            broken.append(task_id)
            raise OperationalError("UPDATE tasks", {}, Exception("database is locked"))
        return real_finish(task_id, *args, **kwargs)

    monkeypatch.setattr(world.queue, "finish", finish_once_locked)
    first = world.submit(ENGINE, {"log": str(log), "gpu_s": 0.2, "tail_s": 0.5})
    task = world.wait(first, timeout_s=40)
    # its end was not recorded; the lease lapsed, and the re-run succeeded on the same slot
    assert broken == [first]
    assert task.status is TaskStatus.SUCCEEDED and task.attempt == 2
    later = world.submit(ENGINE, {"log": str(log), "gpu_s": 0.1, "tail_s": 0.1})
    assert world.wait(later).status is TaskStatus.SUCCEEDED
