"""Several slots and a GPU engine: each slot's child sees only its own GPU. The GPUs are
faked through the parent's ``CUDA_VISIBLE_DEVICES``; an engine loaded from this module by the
spawned child reports the variable it sees. CPU-only workers keep today's environment.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

import pytest

from framecast.core.errors import ConfigError
from framecast.core.task import TaskStatus
from framecast.engines.base import Capabilities, Engine, EngineOutputs
from framecast.engines.testing import write_placeholder_outputs
from framecast.worker.messages import ChildState
from framecast.worker.supervisor import Supervisor
from tests.integration.test_worker import World
from tests.integration.test_worker import world as world  # the fixture, shared
from tests.polling import eventually

pytestmark = pytest.mark.slow
ENV_ENGINE = f"{__name__}:ReportsDevicesEngine"
RUN_S = 1.5    # long enough that both slots hold a task at once


class ReportsDevicesEngine(Engine):
    """Runs ``RUN_S`` seconds, then reports its process's ``CUDA_VISIBLE_DEVICES``."""

    name: ClassVar[str] = "reports_devices"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"video"}))
    gpu: ClassVar[bool] = True

    def run(self, spec: Any, inputs: Any, progress: Any, cancelled: Any) -> EngineOutputs:
        time.sleep(RUN_S)
        progress(1, 1)
        return EngineOutputs(files=write_placeholder_outputs(spec, inputs.work_dir), seed=0,
                             info={"devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                                   "pid": os.getpid()})


def devices_seen(world: World, sup: Supervisor, tasks: int) -> list[str | None]:
    """Run ``tasks`` tasks at once, once every slot's child is up; the
    ``CUDA_VISIBLE_DEVICES`` each one's child saw."""
    assert eventually(lambda: all(s.state is ChildState.READY for s in sup.slot_info()),
                      timeout_s=60.0)
    ids = [world.submit(ENV_ENGINE) for _ in range(tasks)]
    done = [world.wait(task_id) for task_id in ids]
    assert all(t.status is TaskStatus.SUCCEEDED for t in done), done
    assert len({t.engine_info["pid"] for t in done}) == tasks     # one child each
    return sorted(t.engine_info["devices"] for t in done)


def test_each_slots_child_sees_only_its_own_gpu(world: World,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    sup = world.supervisor(slots=2, gpu_engines={ENV_ENGINE})
    assert [s.gpu for s in sup.slot_info()] == ["3", "5"]
    assert devices_seen(world, sup, 2) == ["3", "5"]


def test_slots_share_a_gpu_only_when_the_setting_allows_it(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    with pytest.raises(ConfigError, match="--slots 2"):
        Supervisor(world.queue, world.store, slots=2, work_root=world.work_root,
                   gpu_engines={ENV_ENGINE})
    sup = world.supervisor(slots=2, gpu_engines={ENV_ENGINE}, gpu_slots_per_device=2)
    assert devices_seen(world, sup, 2) == ["7", "7"]


def test_a_worker_without_gpu_engines_leaves_the_childrens_environment_alone(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    sup = world.supervisor(slots=3)                        # the engines run on the CPU
    assert [s.gpu for s in sup.slot_info()] == [None, None, None]
    assert devices_seen(world, sup, 2) == ["3,5", "3,5"]
