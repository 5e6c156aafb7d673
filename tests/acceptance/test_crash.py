"""Crash tests against real ``framecast serve`` processes: whatever is killed, nothing is lost.

a. ``kill -9`` of the engine child mid-task: the task re-runs (one extra attempt) and
   succeeds, and a fresh child serves the next task.
b. ``kill -9`` of the whole ``serve`` process with tasks queued and running: the engine
   children notice and exit; ``serve`` restarted on the same data directory brings every
   task to ``succeeded`` within a bound, with one extra attempt for each task that was running.
   A child busy in an engine that never checks for cancel (and its grandchild) goes too:
   the child's parent watch kills its process group.
c. A worker whose lease lapsed cannot finish (nor heartbeat, nor fail) the task it lost; the
   outputs that stay are those of the server that re-ran it.
d. A running task asked to cancel ends ``cancelled`` within 5 s: an engine that ignores the
   request is killed with its whole process group (a SIGTERM-proof grandchild included); a
   cooperative one stops by itself and its child stays warm.

Every test starts its own server (own data directory and port) with short worker timings:
lease 3 s, heartbeat 1 s, poll 0.2 s, kill grace 1 s. The reaper runs every 5 s (fixed), so a
task whose worker died is queued again within lease + 5 s of its last heartbeat. The Ark wire
does not show attempts, and Ark DELETE cannot stop a running task, so the tests open the
server's SQLite file with ``TaskQueue`` to read attempts, to cancel through the core, and to
play a second worker.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from framecast.core.errors import LeaseLost
from framecast.core.task import Task, TaskStatus
from framecast.db.queue import TaskQueue
from framecast.edge.auth import STATIC_OWNER_ID
from tests.acceptance.support.server import (
    API_KEY,
    TERMINAL,
    Server,
    assert_clean_log,
    download,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.slow

CRASH_ENV = {"FRAMECAST_LEASE_S": "3", "FRAMECAST_HEARTBEAT_S": "1",
             "FRAMECAST_POLL_S": "0.2", "FRAMECAST_KILL_GRACE_S": "1"}
SLEEPS = "fc-crash-sleeps"        # engine `sleeps`, SLEEPS_S seconds, honours cancel
HOLDS = "fc-crash-holds"          # engine `sleeps`, a minute: holds a slot until cancelled
INSTANT = "fc-crash-instant"      # engine `instant`
STUBBORN = "fc-crash-stubborn"    # support.crash_engines:StubbornEngine, ignores cancel
SLEEPS_S = 2.0
PROMPT = "a lighthouse at dusk --rs 480p --frames 29"
GRANDCHILD_PID_FILE = "stubborn-grandchild.pid"
FAKE_WORKER = "fake-worker"
FAKE_LEASE_S = 1.0
KILL_BUDGET_S = 5.0        # a running task is cancelled (its process group gone) within this
ORPHAN_EXIT_S = 5.0        # children of a killed server exit within this
RECOVERY_S = 45.0          # every task of a killed server is terminal after a restart within this
TASK_TIMEOUT_S = 30.0
POLL_S = 0.05


def models_toml(data_dir: Path) -> str:
    """The crash tests' ``framecast.toml``."""
    return f"""
[[models]]
id = "{SLEEPS}"
kind = "video"
engine = "sleeps"
default_resolution = "480p"
[models.options]
seconds = {SLEEPS_S}

[[models]]
id = "{HOLDS}"
kind = "video"
engine = "sleeps"
default_resolution = "480p"
[models.options]
seconds = 60

[[models]]
id = "{INSTANT}"
kind = "video"
engine = "instant"
default_resolution = "480p"

[[models]]
id = "{STUBBORN}"
kind = "video"
engine = "tests.acceptance.support.crash_engines:StubbornEngine"
default_resolution = "480p"
[models.options]
pid_file = "{data_dir / GRANDCHILD_PID_FILE}"
"""


# -- processes, read from /proc -------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a process, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[2])


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is dead: it only waits to be reaped)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def group_alive(pgid: int) -> bool:
    """Whether any live process is in process group ``pgid``."""
    return any((s := _stat(pid)) is not None and s[2] == pgid and s[0] != "Z"
               for pid in _all_pids())


def descendants(root: int) -> set[int]:
    """Every live process below ``root`` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z":
            children.setdefault(stat[1], []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def engine_children(server: Server) -> list[int]:
    """The server's live engine children, as its ``/readyz`` lists them (serve's worker
    process reports its slots once a second), each checked to be a child of ``serve``."""
    try:
        body = httpx.get(f"{server.root}/readyz", timeout=10.0).json()
    except httpx.HTTPError:
        return []
    slots = body["checks"]["worker"].get("slots", [])
    return sorted(s["pid"] for s in slots
                  if s["pid"] and (stat := _stat(s["pid"])) is not None and stat[0] != "Z"
                  and stat[1] == server.process.pid)


def wait_until(condition: Callable[[], Any], timeout_s: float, what: Callable[[], str]) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what()`` after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what()}")
        time.sleep(POLL_S)


# -- one test's servers ---------------------------------------------------------------------


@dataclass
class Rig:
    """The servers of one test (all on one data directory), an HTTP client for the latest,
    and a ``TaskQueue`` on their SQLite file."""

    data_dir: Path
    servers: list[Server] = field(default_factory=list)
    strays: set[int] = field(default_factory=set)   # processes to make sure are gone
    _queue: TaskQueue | None = None
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(
        timeout=30.0, headers={"Authorization": f"Bearer {API_KEY}"}))

    def start(self, slots: int) -> Server:
        """Start ``framecast serve`` on the rig's data directory."""
        server = start_server(self.data_dir, slots=slots, extra_env=CRASH_ENV,
                              models_toml=models_toml(self.data_dir))
        self.servers.append(server)
        return server

    @property
    def server(self) -> Server:
        """The latest server."""
        return self.servers[-1]

    @property
    def queue(self) -> TaskQueue:
        """The core's queue on the servers' database."""
        if self._queue is None:
            self._queue = TaskQueue.open(f"sqlite:///{self.data_dir / 'framecast.db'}")
        return self._queue

    def create(self, model: str) -> str:
        """Create a text-only video task over the Ark API; its id."""
        response = self._http.post(
            f"{self.server.base_url}/contents/generations/tasks",
            json={"model": model, "content": [{"type": "text", "text": PROMPT}]})
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def get(self, task_id: str) -> dict[str, Any]:
        """The task object over the Ark API."""
        response = self._http.get(f"{self.server.base_url}/contents/generations/tasks/{task_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def stored(self, task_id: str) -> Task:
        """The task as stored (attempts, re-runs, worker, output keys)."""
        return self.queue.get(task_id)

    def wait_stored(self, task_id: str, until: Callable[[Task], bool],
                    timeout_s: float = TASK_TIMEOUT_S) -> Task:
        """Poll the stored task until ``until`` holds."""
        def reached() -> Task | None:
            task = self.stored(task_id)
            return task if until(task) else None

        return wait_until(reached, timeout_s, lambda: f"task {task_id}: {self.stored(task_id)}"
                                                      f"\n{self.server.log_tail(30)}")

    def wait_api(self, task_id: str, until: tuple[str, ...] = TERMINAL,
                 timeout_s: float = TASK_TIMEOUT_S) -> dict[str, Any]:
        """Poll the task over the Ark API until its status is in ``until``."""
        def reached() -> dict[str, Any] | None:
            body = self.get(task_id)
            return body if body["status"] in until else None

        return wait_until(reached, timeout_s, lambda: f"task {task_id}: {self.get(task_id)}"
                                                      f"\n{self.server.log_tail(30)}")

    def close(self) -> None:
        """Stop every server still running, kill stray processes, close clients."""
        for server in self.servers:
            stop_server(server)
        for pid in self.strays:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._http.close()
        if self._queue is not None:
            self._queue.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A fresh data directory; its servers are stopped and checked for tracebacks after."""
    crash_rig = Rig(tmp_path / "data")
    try:
        yield crash_rig
    finally:
        crash_rig.close()
    for server in crash_rig.servers:
        assert_clean_log(server)


def running_with_progress(task: Task) -> bool:
    """The engine is under way (it has reported progress)."""
    return task.status is TaskStatus.RUNNING and task.step > 0


def attempt_dirs(data_dir: Path, task_id: str) -> set[str]:
    """The attempt folders holding a task's stored outputs."""
    folder = data_dir / "files" / "tasks" / task_id
    return {p.name for p in folder.iterdir() if p.is_dir() and p.name != "inputs"}


def assert_served_by_one_attempt(rig: Rig, task_id: str, body: dict[str, Any]) -> Task:
    """The task succeeded with the outputs of its last attempt only, and they download."""
    stored = rig.stored(task_id)
    assert body["status"] == "succeeded", body
    assert [o.key for o in stored.outputs] == [f"tasks/{task_id}/{stored.attempt}/video.mp4"]
    assert attempt_dirs(rig.data_dir, task_id) == {str(stored.attempt)}
    assert download(body["content"]["video_url"])[4:8] == b"ftyp"
    return stored


# -- a. the engine child ---------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_kill_9_of_the_engine_child_mid_task_reruns_the_task(rig: Rig) -> None:
    server = rig.start(slots=1)
    task_id = rig.create(SLEEPS)
    rig.wait_stored(task_id, running_with_progress)
    [child] = engine_children(server)
    assert os.getpgid(child) == child, "the engine child should lead its own process group"

    os.killpg(child, signal.SIGKILL)   # as the OOM killer would, the whole group

    body = rig.wait_api(task_id)
    stored = assert_served_by_one_attempt(rig, task_id, body)
    assert (stored.attempt, stored.reruns) == (2, 1)
    fresh = wait_until(lambda: engine_children(server), 10.0,
                       lambda: f"no fresh engine child\n{server.log_tail(20)}")
    assert child not in fresh and not alive(child)

    next_id = rig.create(INSTANT)
    assert rig.wait_api(next_id)["status"] == "succeeded"
    assert rig.stored(next_id).attempt == 1
    assert engine_children(server) == fresh   # the fresh child served it


# -- b. the whole server ---------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_kill_9_of_serve_with_tasks_queued_and_running_loses_nothing(rig: Rig) -> None:
    server = rig.start(slots=2)
    task_ids = [rig.create(SLEEPS) for _ in range(6)]
    wait_until(lambda: sum(running_with_progress(rig.stored(t)) for t in task_ids) == 2,
               TASK_TIMEOUT_S, lambda: f"two tasks never ran\n{server.log_tail(30)}")
    family = descendants(server.process.pid)   # engine children and the resource tracker
    assert len(engine_children(server)) == 2
    rig.strays |= family

    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    before = {t: rig.stored(t) for t in task_ids}
    was_running = {t for t, task in before.items() if task.status is TaskStatus.RUNNING}
    assert len(was_running) == 2, before

    # the children of the dead server notice (their pipe closes) and exit by themselves
    wait_until(lambda: not any(alive(p) for p in family), ORPHAN_EXIT_S,
               lambda: f"orphans still alive: {sorted(p for p in family if alive(p))}")

    restarted = rig.start(slots=2)
    started = time.monotonic()
    bodies = {t: rig.wait_api(t, timeout_s=max(1.0, RECOVERY_S - (time.monotonic() - started)))
              for t in task_ids}
    for task_id, body in bodies.items():
        stored = assert_served_by_one_attempt(rig, task_id, body)
        was = before[task_id]
        if was.status is TaskStatus.SUCCEEDED:   # finished before the kill: untouched
            assert (stored.attempt, stored.reruns) == (was.attempt, was.reruns)
            continue
        # one more claim each; a re-run only for a task the kill interrupted (R2)
        rerun = 1 if task_id in was_running else 0
        assert (stored.attempt, stored.reruns) == (was.attempt + 1, was.reruns + rerun), \
            (task_id, was, stored)
    assert rig.queue.counts_by_status()["succeeded"] == len(task_ids)
    assert len(engine_children(restarted)) == 2


@pytest.mark.timeout(60)
def test_kill_9_of_serve_leaves_no_busy_engine_child_behind(rig: Rig) -> None:
    server = rig.start(slots=1)
    task_id = rig.create(STUBBORN)
    rig.wait_stored(task_id, running_with_progress)
    family = descendants(server.process.pid)   # child, its grandchild, the resource tracker
    rig.strays |= family   # killed in teardown whatever happens

    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)

    wait_until(lambda: not any(alive(p) for p in family), ORPHAN_EXIT_S,
               lambda: f"orphans still alive: {sorted(p for p in family if alive(p))}")


# -- c. a lapsed lease ----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_worker_whose_lease_lapsed_cannot_finish_the_task_it_lost(rig: Rig) -> None:
    rig.start(slots=1)
    blocker = rig.create(HOLDS)   # keeps the server's only slot busy while we claim
    rig.wait_stored(blocker, running_with_progress)
    target = rig.create(INSTANT)
    claims = rig.queue.claim(FAKE_WORKER, ["instant"], 1, lease_s=FAKE_LEASE_S)
    assert [c.task.id for c in claims] == [target]
    token = claims[0].lease_token
    rig.queue.cancel(blocker, STATIC_OWNER_ID)   # free the slot

    # the fake worker never heartbeats: the server's reaper re-queues the task, its slot re-runs it
    body = rig.wait_api(target)
    stored = assert_served_by_one_attempt(rig, target, body)
    assert (stored.attempt, stored.reruns) == (2, 1)
    assert stored.worker_id not in (None, FAKE_WORKER)

    forged = [{"name": "video.mp4", "key": f"tasks/{target}/1/video.mp4",
               "content_type": "video/mp4"}]
    with pytest.raises(LeaseLost):
        rig.queue.heartbeat(target, token)
    with pytest.raises(LeaseLost):
        rig.queue.finish(target, token, outputs=forged, seed=1, usage_tokens=1,
                         engine_seconds=0.0)
    with pytest.raises(LeaseLost):
        rig.queue.fail(target, token, code="Forged", message="a stale worker", rerun=True)
    after = rig.stored(target)
    assert after.status is TaskStatus.SUCCEEDED
    assert [o.to_dict() for o in after.outputs] == [o.to_dict() for o in stored.outputs]
    assert rig.get(blocker)["status"] == "cancelled"


# -- d. cancelling a running task ------------------------------------------------------------


@pytest.mark.timeout(60)
def test_cancel_of_a_stubborn_running_task_kills_its_process_group_within_5_s(rig: Rig) -> None:
    server = rig.start(slots=1)
    task_id = rig.create(STUBBORN)
    rig.wait_stored(task_id, running_with_progress)
    pid_file = rig.data_dir / GRANDCHILD_PID_FILE
    grandchild = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), 10.0,
                                lambda: "the engine wrote no grandchild pid"))
    [child] = engine_children(server)
    rig.strays |= {child, grandchild}
    assert os.getpgid(grandchild) == child

    started = time.monotonic()
    rig.queue.cancel(task_id, STATIC_OWNER_ID)
    body = rig.wait_api(task_id, until=("cancelled", "succeeded", "failed"),
                        timeout_s=KILL_BUDGET_S)
    elapsed = time.monotonic() - started
    assert body["status"] == "cancelled" and elapsed < KILL_BUDGET_S, (body, elapsed)
    assert not group_alive(child) and not alive(grandchild)

    next_id = rig.create(INSTANT)
    assert rig.wait_api(next_id)["status"] == "succeeded"
    assert child not in engine_children(server)


@pytest.mark.timeout(60)
def test_cancel_of_a_cooperative_running_task_stops_it_and_keeps_the_child_warm(
        rig: Rig) -> None:
    server = rig.start(slots=1)
    task_id = rig.create(HOLDS)
    rig.wait_stored(task_id, running_with_progress)
    [child] = engine_children(server)

    started = time.monotonic()
    rig.queue.cancel(task_id, STATIC_OWNER_ID)
    body = rig.wait_api(task_id, until=("cancelled", "succeeded", "failed"),
                        timeout_s=KILL_BUDGET_S)
    elapsed = time.monotonic() - started
    assert body["status"] == "cancelled" and elapsed < KILL_BUDGET_S, (body, elapsed)
    assert rig.stored(task_id).outputs == []

    next_id = rig.create(INSTANT)
    assert rig.wait_api(next_id)["status"] == "succeeded"
    assert engine_children(server) == [child]   # stopped cooperatively: warm
