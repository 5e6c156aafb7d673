"""A cancel waits for the engine's own grace before it kills: an engine that sees a cancel
only at the end of a long step (a GPU denoising step, an uninterruptible decode) stops
cleanly and stays warm, while an engine that never stops is still killed once its grace has
passed. The worker's ``kill_grace_s`` is the floor (0.5 s here, shorter than one step).

Runs the real worker (``tests.integration.test_worker``'s ``World``: a Supervisor with
spawned children, SQLite, a local store); the engines below are loaded from this module by
the spawned child.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pytest

from framecast.core.task import TaskStatus
from framecast.engines.base import Cancelled, Capabilities, Engine, EngineOutputs
from framecast.engines.testing import write_placeholder_outputs
from tests.integration.test_worker import (
    OWNER,
    World,
    child_pid,
    group_alive,
    pid_alive,
    running_with_progress,
)
from tests.integration.test_worker import world as world  # the fixture, shared

pytestmark = pytest.mark.slow
FLOOR_S = 0.5        # the worker's kill_grace_s in these tests: shorter than a step
STEP_S = 3.0         # one "denoising step" of SlowStepsEngine; a cancel is seen at its end
KILL_BUDGET_S = 5.0  # past the grace: the kill itself, the reply, the database write


class SlowStepsEngine(Engine):
    """Reports progress at the start of each ``options["step_s"]``-second step and checks
    ``cancelled()`` only when a step ends, as a diffusers engine does."""

    name: ClassVar[str] = "slow_steps"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"video"}))

    def run(self, spec: Any, inputs: Any, progress: Any, cancelled: Any) -> EngineOutputs:
        step_s, steps = float(self.options.get("step_s", STEP_S)), 100
        for step in range(steps):
            progress(step + 1, steps)
            time.sleep(step_s)
            if cancelled():
                raise Cancelled()
        return EngineOutputs(files=write_placeholder_outputs(spec, inputs.work_dir), seed=0)


class PatientEngine(SlowStepsEngine):
    """A ``SlowStepsEngine`` whose class asks for a long grace, as the diffusers engines do."""

    name: ClassVar[str] = "patient"
    cancel_grace_s: ClassVar[float] = 10.0


class StuckEngine(Engine):
    """Reports progress, then sleeps without ever checking ``cancelled()``."""

    name: ClassVar[str] = "stuck"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"video"}))

    def run(self, spec: Any, inputs: Any, progress: Any, cancelled: Any) -> EngineOutputs:
        progress(1, 100)
        time.sleep(120)
        return EngineOutputs(files=write_placeholder_outputs(spec, inputs.work_dir), seed=0)


def cancel_and_wait(world: World, task_id: str, timeout_s: float) -> float:
    """Cancel the running task; the seconds until it ended (it must end cancelled)."""
    started = time.monotonic()
    world.client.cancel(task_id, OWNER)
    task = world.wait(task_id, timeout_s=timeout_s)
    assert task.status is TaskStatus.CANCELLED, task
    return time.monotonic() - started


@pytest.mark.parametrize(("engine", "options"), [
    (f"{__name__}:SlowStepsEngine", {"cancel_grace_s": 10}),   # the model's option
    (f"{__name__}:PatientEngine", {}),                         # the engine class's grace
], ids=["option", "class"])
def test_a_cancel_with_a_long_grace_stops_the_engine_cleanly_and_keeps_it_warm(
        world: World, engine: str, options: dict[str, Any]) -> None:
    sup = world.supervisor(kill_grace_s=FLOOR_S)
    first = world.submit(engine, options)
    world.wait(first, running_with_progress)
    pid = child_pid(sup)
    assert sup.slot_info()[0].loads == 1

    seconds = cancel_and_wait(world, first, timeout_s=STEP_S + KILL_BUDGET_S)
    assert seconds > FLOOR_S * 2          # it waited for the step's end, past the floor
    assert child_pid(sup) == pid and pid_alive(pid)          # not killed

    second = world.submit(engine, options)                  # the same model again
    world.wait(second, running_with_progress)
    info = sup.slot_info()[0]
    assert info.pid == pid and info.loads == 1               # no reload
    cancel_and_wait(world, second, timeout_s=STEP_S + KILL_BUDGET_S)


def test_a_stuck_engine_is_still_killed_once_its_grace_has_passed(world: World) -> None:
    sup = world.supervisor(kill_grace_s=FLOOR_S)
    grace_s = 2.0
    task_id = world.submit(f"{__name__}:StuckEngine", {"cancel_grace_s": grace_s})
    world.wait(task_id, running_with_progress)
    pid = child_pid(sup)

    seconds = cancel_and_wait(world, task_id, timeout_s=grace_s + KILL_BUDGET_S)
    assert grace_s <= seconds < grace_s + KILL_BUDGET_S
    assert not group_alive(pid)
    assert world.wait(world.submit("instant")).status is TaskStatus.SUCCEEDED
    assert child_pid(sup) != pid                             # a fresh child replaced it


def test_the_workers_kill_grace_is_a_floor_under_the_engines(world: World) -> None:
    sup = world.supervisor(kill_grace_s=STEP_S + 2.0)
    task_id = world.submit(f"{__name__}:SlowStepsEngine", {"cancel_grace_s": 0})
    world.wait(task_id, running_with_progress)
    pid = child_pid(sup)
    cancel_and_wait(world, task_id, timeout_s=STEP_S + KILL_BUDGET_S)
    assert child_pid(sup) == pid and pid_alive(pid)          # the floor let the step end
