"""The worker for real: a Supervisor with spawned engine children, the SQLite queue and a
local blob store in temporary directories, driven through the fault engines of
``framecast.engines.testing`` (``instant``, ``sleeps``, ``dies_mid_run``, ``raises_in_load``).

Kills are real (SIGKILL of the child's process group, an engine that SIGKILLs itself); lost
leases are made by stealing the task from under the worker, as a second worker would after
the reaper re-queued it.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image
from sqlalchemy import select, update

from framecast.blobs import LocalStore, input_key
from framecast.blobs.base import storage_failure
from framecast.core.spec import ImageInput, VideoSpec
from framecast.core.task import Task, TaskStatus
from framecast.db.queue import Claim, NewTask, TaskQueue
from framecast.db.tables import tasks
from framecast.engines.base import Capabilities, Engine, EngineOutputs
from framecast.engines.testing import write_placeholder_outputs
from framecast.worker.messages import ChildState
from framecast.worker.supervisor import Supervisor
from tests.polling import eventually

pytestmark = pytest.mark.slow
OWNER = "alice"
KILL_BUDGET_S = 5.0


class IgnoresCancelEngine(Engine):
    """Starts a grandchild (``sleep``), writes its pid, then sleeps without checking
    ``cancelled()``: only killing the process group stops it. Loaded from this module by
    the spawned child (``tests.integration.test_worker:IgnoresCancelEngine``), which shares our
    sys.path."""

    name: ClassVar[str] = "ignores_cancel"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"video"}))

    def run(self, spec: Any, inputs: Any, progress: Any, cancelled: Any) -> EngineOutputs:
        grandchild = subprocess.Popen(["sleep", "120"])
        Path(self.options["pid_file"]).write_text(str(grandchild.pid))
        progress(1, 100)
        time.sleep(120)
        return EngineOutputs(files=write_placeholder_outputs(spec, inputs.work_dir), seed=0)


class DiskFullOnceEngine(Engine):
    """Its first attempt meets a full disk while writing its outputs (ENOSPC, as an encoder
    would); later attempts succeed."""

    name: ClassVar[str] = "disk_full_once"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"video"}))

    def run(self, spec: Any, inputs: Any, progress: Any, cancelled: Any) -> EngineOutputs:
        marker = Path(self.options["marker"])
        if not marker.exists():
            marker.write_text("hit")
            raise OSError(errno.ENOSPC, "No space left on device", "video.mp4")
        return EngineOutputs(files=write_placeholder_outputs(spec, inputs.work_dir), seed=0)


class RecordingStore(LocalStore):
    """A LocalStore that remembers every key written."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, secret=b"test-secret", base_url="http://127.0.0.1:1")
        self.written: list[str] = []

    def put_file(self, key: str, src: Path, content_type: str) -> int:
        self.written.append(key)
        return super().put_file(key, src, content_type)


class FullStore(RecordingStore):
    """A store whose disk is full for its first ``full_writes`` writes."""

    def __init__(self, root: Path, full_writes: int) -> None:
        super().__init__(root)
        self.full_writes = full_writes

    def put_file(self, key: str, src: Path, content_type: str) -> int:
        if self.full_writes > 0:
            self.full_writes -= 1
            raise storage_failure("write", key, OSError(errno.ENOSPC, "No space left"))
        return super().put_file(key, src, content_type)


@dataclass
class World:
    """One worker setup: queue, store, the model → (engine, options) table, supervisors."""

    queue: TaskQueue
    store: RecordingStore
    work_root: Path
    models: dict[str, tuple[str, dict[str, Any]]]
    supervisors: list[Supervisor] = field(default_factory=list)
    count: int = 0
    api: TaskQueue | None = None    # where clients enqueue and cancel (default: ``queue``)

    @property
    def client(self) -> TaskQueue:
        """The queue the "API" side uses."""
        return self.api or self.queue

    def supervisor(self, **overrides: Any) -> Supervisor:
        """Start a supervisor with quick test intervals (overridable)."""
        settings: dict[str, Any] = dict(
            engines=None, slots=1, work_root=self.work_root, worker_id="w-test",
            heartbeat_s=1.0, lease_s=45.0, poll_s=0.2, kill_grace_s=1.0,
            progress_interval_s=0.2, cancel_check_s=0.2, reap_interval_s=0.3,
            resolve_engine=self.resolve)
        settings.update(overrides)
        sup = Supervisor(self.queue, self.store, **settings)
        sup.start()
        self.supervisors.append(sup)
        return sup

    def resolve(self, task: Task) -> tuple[str, dict[str, Any]]:
        """The test's registry: the task's model names an entry of ``models``."""
        return self.models[task.model]

    def submit(self, engine: str, options: dict[str, Any] | None = None, *,
               image: bool = False, last_frame: bool = False, expires_after: int = 3600) -> str:
        """Enqueue a resolved 480p video task served by ``engine`` with ``options``."""
        self.count += 1
        task_id = f"cgt-test-{self.count:03d}"
        model = f"model-{task_id}"
        self.models[model] = (engine, dict(options or {}))
        images = []
        if image:
            key = input_key(task_id, 0, "first_frame")
            picture = Image.new("RGB", (864, 480), (200, 40, 40))
            path = self.work_root.parent / f"{task_id}.png"
            picture.save(path)
            self.store.put_bytes(key, path.read_bytes(), "image/png")
            images = [ImageInput(role="first_frame", url="data:", key=key)]
        spec = VideoSpec(model=model, prompt="a red wall", resolution="480p", ratio="16:9",
                         duration=2, width=864, height=480, frames_total=49, seed=7,
                         images=images, return_last_frame=last_frame)
        self.client.enqueue(NewTask(id=task_id, owner_id=OWNER, kind="video", model=model,
                                   engine=engine, spec=spec.model_dump(), usage_tokens=19845,
                                   execution_expires_after=expires_after))
        return task_id

    def wait(self, task_id: str, until: Callable[[Task], bool] = lambda t: t.terminal,
             timeout_s: float = 30.0) -> Task:
        """Poll the task until ``until`` holds (fails the test after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            task = self.queue.get(task_id)
            if until(task):
                return task
            if task.terminal or time.monotonic() > deadline:
                pytest.fail(f"task {task_id} stuck in {task.status.value}: {task}")
            time.sleep(0.05)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh SQLite queue, blob store and work root; supervisors are stopped afterwards."""
    queue = TaskQueue.open(f"sqlite:///{tmp_path / 'framecast.db'}")
    w = World(queue=queue, store=RecordingStore(tmp_path / "files"),
              work_root=tmp_path / "work", models={})
    try:
        yield w
    finally:
        for sup in w.supervisors:
            sup.stop(timeout=0)
        queue.close()


def running_with_progress(task: Task) -> bool:
    """The engine is under way (it has reported progress)."""
    return task.status is TaskStatus.RUNNING and task.step > 0


def child_pid(sup: Supervisor) -> int:
    """The pid of the first slot's current child (it leads its own process group)."""
    pid = sup.slot_info()[0].pid
    assert pid
    return pid


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is in process group ``pgid``."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---- the happy path ---------------------------------------------------------------------------

def test_a_task_succeeds_with_attempt_scoped_outputs(world: World) -> None:
    world.supervisor()
    task_id = world.submit("instant", image=True, last_frame=True)
    task = world.wait(task_id)
    assert task.status is TaskStatus.SUCCEEDED, task.error_message
    assert task.attempt == 1 and task.seed == 7 and task.usage_tokens == 19845
    assert task.progress == 1.0 and task.engine_seconds > 0
    video, last = task.output("video.mp4"), task.output("last_frame.png")
    assert video.key == f"tasks/{task_id}/1/video.mp4" and video.content_type == "video/mp4"
    assert (video.width, video.height, video.frames, video.fps) == (864, 480, 49, 24)
    assert last.key == f"tasks/{task_id}/1/last_frame.png"
    for output in (video, last):
        assert output.size_bytes == len(world.store.get_bytes(output.key)) > 0
    assert eventually(lambda: not any(world.work_root.rglob(task_id)))   # work dir cleaned


def test_progress_is_recorded_while_the_engine_runs(world: World) -> None:
    world.supervisor()
    task_id = world.submit("sleeps", {"seconds": 1.5})
    seen = world.wait(task_id, lambda t: t.status is TaskStatus.RUNNING and 0 < t.progress < 1)
    assert 0 < seen.step < seen.total_steps == 30
    task = world.wait(task_id)
    assert task.status is TaskStatus.SUCCEEDED and task.step == task.total_steps == 30


def test_the_child_stays_warm_across_tasks(world: World) -> None:
    sup = world.supervisor(engines={"instant"})
    skipped = world.submit("sleeps")                              # not an engine it serves
    first = world.wait(world.submit("instant"))
    pid = child_pid(sup)
    second = world.wait(world.submit("instant", image=True))
    assert first.status is second.status is TaskStatus.SUCCEEDED
    info = sup.slot_info()[0]
    assert info.pid == pid and info.loads == 1 and info.tasks_run == 2
    assert world.queue.get(skipped).status is TaskStatus.QUEUED


# ---- dying children ---------------------------------------------------------------------------

def test_a_child_killed_mid_task_is_replaced_and_the_task_reruns(world: World) -> None:
    sup = world.supervisor()
    task_id = world.submit("sleeps", {"seconds": 1.0})
    world.wait(task_id, running_with_progress)
    first_pid = child_pid(sup)
    os.killpg(first_pid, signal.SIGKILL)                          # as the OOM killer would
    task = world.wait(task_id)
    assert task.status is TaskStatus.SUCCEEDED and task.attempt == 2 and task.reruns == 1
    assert task.output("video.mp4").key == f"tasks/{task_id}/2/video.mp4"
    assert child_pid(sup) != first_pid and not group_alive(first_pid)
    assert world.wait(world.submit("instant")).status is TaskStatus.SUCCEEDED


def test_an_engine_that_dies_once_succeeds_on_the_rerun(world: World, tmp_path: Path) -> None:
    sup = world.supervisor()
    world.wait(world.submit("instant"))
    first_pid = child_pid(sup)
    task = world.wait(world.submit("dies_mid_run", {"marker_dir": str(tmp_path)}))
    assert task.status is TaskStatus.SUCCEEDED and task.attempt == 2 and task.reruns == 1
    new_pid = child_pid(sup)
    assert new_pid != first_pid
    assert world.wait(world.submit("instant")).status is TaskStatus.SUCCEEDED
    assert child_pid(sup) == new_pid                              # the new child serves on


def test_a_child_that_keeps_dying_fails_after_the_rerun_budget(world: World,
                                                              tmp_path: Path) -> None:
    world.supervisor()
    task = world.wait(world.submit("dies_mid_run", {"times": 10, "marker_dir": str(tmp_path)}))
    assert task.status is TaskStatus.FAILED and task.attempt == 3 and task.reruns == 2
    assert task.error_code == "InternalServiceError"
    assert "engine process exited with -9 (SIGKILL); likely out of memory" in task.error_message


def test_an_engine_that_cannot_load_fails_the_task_clearly(world: World) -> None:
    sup = world.supervisor()
    task = world.wait(world.submit("raises_in_load"))
    assert task.status is TaskStatus.FAILED and task.attempt == 1
    assert task.error_message.startswith("engine raises_in_load could not load: RuntimeError")
    pid = child_pid(sup)
    assert world.wait(world.submit("instant")).status is TaskStatus.SUCCEEDED
    assert child_pid(sup) == pid                                  # a load error is not a crash


# ---- kills ------------------------------------------------------------------------------------

def test_cancel_a_running_task_stops_it_within_the_budget(world: World) -> None:
    sup = world.supervisor()
    task_id = world.submit("sleeps", {"seconds": 60})
    world.wait(task_id, running_with_progress)
    pid = child_pid(sup)
    started = time.monotonic()
    world.client.cancel(task_id, OWNER)
    task = world.wait(task_id, timeout_s=KILL_BUDGET_S)
    assert task.status is TaskStatus.CANCELLED
    assert time.monotonic() - started < KILL_BUDGET_S
    assert child_pid(sup) == pid and pid_alive(pid)               # stopped cooperatively: warm


def test_a_task_that_ignores_cancel_is_killed_with_its_process_group(world: World,
                                                                     tmp_path: Path) -> None:
    sup = world.supervisor()
    pid_file = tmp_path / "grandchild.pid"
    task_id = world.submit(f"{__name__}:IgnoresCancelEngine", {"pid_file": str(pid_file)})
    world.wait(task_id, running_with_progress)
    pid, grandchild = child_pid(sup), int(pid_file.read_text())
    assert pid_alive(grandchild)
    started = time.monotonic()
    world.client.cancel(task_id, OWNER)
    task = world.wait(task_id, timeout_s=KILL_BUDGET_S)
    assert task.status is TaskStatus.CANCELLED
    assert time.monotonic() - started < KILL_BUDGET_S
    assert not group_alive(pid) and not pid_alive(grandchild)
    assert world.wait(world.submit("instant")).status is TaskStatus.SUCCEEDED
    assert child_pid(sup) != pid


def test_a_running_task_past_its_deadline_ends_expired(world: World) -> None:
    world.supervisor()
    task_id = world.submit("sleeps", {"seconds": 60}, expires_after=2)
    task = world.wait(task_id, timeout_s=10)
    assert task.status is TaskStatus.EXPIRED and task.cancel_reason == "expired"


# ---- lost leases ------------------------------------------------------------------------------

def steal(queue: TaskQueue, task_id: str) -> Claim:
    """Do what the reaper and a second worker would: lapse the lease, re-queue, re-claim."""
    with queue.engine.begin() as conn:
        conn.execute(update(tasks).where(tasks.c.id == task_id).values(lease_expires_at=0.0))
    # the worker's own reaper may re-queue it first: either way the task is queued again
    queue.requeue_lapsed()
    with queue.engine.connect() as conn:
        status = conn.execute(select(tasks.c.status).where(tasks.c.id == task_id)).scalar_one()
    assert status == "queued"
    claims = queue.claim("w-thief")
    assert [c.task.id for c in claims] == [task_id]
    return claims[0]


def finish_as_thief(world: World, claim: Claim) -> None:
    """The second worker's attempt completes with its own output."""
    key = f"tasks/{claim.task.id}/{claim.task.attempt}/video.mp4"
    world.store.put_bytes(key, b"thief", "video/mp4")
    world.queue.finish(claim.task.id, claim.lease_token, seed=1, usage_tokens=1,
                       engine_seconds=1.0,
                       outputs=[{"name": "video.mp4", "key": key, "content_type": "video/mp4"}])


def test_a_worker_that_lost_its_lease_cannot_finish(world: World) -> None:
    stolen: list[Claim] = []

    def resolve_and_steal(task: Task) -> tuple[str, dict[str, Any]]:
        # runs in the slot right after its claim: the lease is gone before the engine starts
        stolen.append(steal(world.queue, task.id))
        return "instant", {}

    # no kill checks or heartbeats before the engine is done: the lease is renewed just
    # before the outputs are stored, and that renewal meets the lost lease
    sup = world.supervisor(cancel_check_s=30, heartbeat_s=30, progress_interval_s=30,
                           resolve_engine=resolve_and_steal)
    task_id = world.submit("instant")
    assert eventually(lambda: sup.slot_info()[0].tasks_run >= 1, 20)       # attempt over
    assert not any(world.work_root.rglob(f"{task_id}/1"))    # (attempt 2 may be under way)
    assert world.store.written == []             # the loser uploaded nothing
    finish_as_thief(world, stolen[0])
    task = world.wait(task_id)
    assert task.status is TaskStatus.SUCCEEDED and task.worker_id == "w-thief"
    assert task.output("video.mp4").key == f"tasks/{task_id}/2/video.mp4"
    assert world.store.get_bytes(f"tasks/{task_id}/2/video.mp4") == b"thief"


def test_a_lost_lease_mid_run_kills_the_engine(world: World) -> None:
    sup = world.supervisor()
    task_id = world.submit("sleeps", {"seconds": 60})
    world.wait(task_id, running_with_progress)
    pid = child_pid(sup)
    claim = steal(world.queue, task_id)
    assert eventually(lambda: not group_alive(pid), KILL_BUDGET_S), "engine outlived its lease"
    finish_as_thief(world, claim)
    task = world.wait(task_id)
    assert task.status is TaskStatus.SUCCEEDED and task.worker_id == "w-thief"
    assert not world.store.exists(f"tasks/{task_id}/1/video.mp4")


# ---- shutdown ---------------------------------------------------------------------------------

def test_stopping_hands_running_tasks_back_to_the_queue(world: World) -> None:
    sup = world.supervisor()
    task_id = world.submit("sleeps", {"seconds": 60})
    world.wait(task_id, running_with_progress)
    pid = child_pid(sup)
    sup.stop(timeout=0)
    task = world.queue.get(task_id)
    assert task.status is TaskStatus.QUEUED and task.reruns == 0 and task.attempt == 1
    assert not group_alive(pid)


def test_a_drain_lets_the_running_task_finish_and_claims_nothing_more(world: World) -> None:
    """What SIGTERM leads to (``run_forever`` calls ``stop(drain_s)``; the fleet acceptance
    test sends the signal): no new claim, the running task finishes in place, once, and the
    worker leaves no files behind."""
    sup = world.supervisor()
    task_id = world.submit("sleeps", {"seconds": 2})
    world.wait(task_id, running_with_progress)
    waiting = world.submit("instant")
    sup.stop(timeout=30)
    task = world.queue.get(task_id)
    assert task.status is TaskStatus.SUCCEEDED and task.attempt == 1 and task.reruns == 0
    assert world.queue.get(waiting).status is TaskStatus.QUEUED
    assert not any(world.work_root.iterdir())


def test_a_full_disk_in_the_engine_hands_the_task_back_uncounted(world: World,
                                                                   tmp_path: Path) -> None:
    """ENOSPC while the engine writes is the machine's trouble, not the task's: the attempt
    goes back to the queue (no re-run counted, no failure) and the next one succeeds."""
    world.supervisor()
    task_id = world.submit(f"{__name__}:DiskFullOnceEngine", {"marker": str(tmp_path / "m")})
    task = world.wait(task_id, timeout_s=60)
    assert task.status is TaskStatus.SUCCEEDED, task
    assert (task.attempt, task.reruns) == (2, 0)


def test_a_full_store_at_upload_hands_the_task_back_uncounted(world: World,
                                                              tmp_path: Path) -> None:
    world.store = FullStore(tmp_path / "full-files", full_writes=1)
    world.supervisor()
    task_id = world.submit("instant")
    task = world.wait(task_id, timeout_s=60)
    assert task.status is TaskStatus.SUCCEEDED, task
    assert (task.attempt, task.reruns) == (2, 0)
    assert task.output("video.mp4").key == f"tasks/{task_id}/2/video.mp4"


# ---- PostgreSQL wake-ups ----------------------------------------------------------------------

@pytest.mark.postgres
def test_on_postgresql_new_work_and_kills_arrive_by_notify(postgres_url: str,
                                                           tmp_path: Path) -> None:
    """Polling is slowed to 30 s, so only NOTIFY from another connection can make the worker
    claim at once and notice a kill at once."""
    world = World(queue=TaskQueue.open(postgres_url), store=RecordingStore(tmp_path / "files"),
                  work_root=tmp_path / "work", models={}, api=TaskQueue.open(postgres_url))
    try:
        sup = world.supervisor(poll_s=30, cancel_check_s=30, heartbeat_s=30)
        assert eventually(lambda: sup.slot_info()[0].state is ChildState.READY, 30)
        time.sleep(0.5)                                   # the slot is now waiting for work
        task_id = world.submit("sleeps", {"seconds": 60})
        world.wait(task_id, running_with_progress, timeout_s=KILL_BUDGET_S)
        started = time.monotonic()
        world.client.cancel(task_id, OWNER)
        task = world.wait(task_id, timeout_s=KILL_BUDGET_S)
        assert task.status is TaskStatus.CANCELLED
        assert time.monotonic() - started < KILL_BUDGET_S
    finally:
        for sup in world.supervisors:
            sup.stop(timeout=0)
        world.queue.close()
        world.client.close()
