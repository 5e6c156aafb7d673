"""serve's worker process reports its slots to its API processes (worker/status.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

from framecast.api.metrics import slot_states
from framecast.worker.messages import ChildState
from framecast.worker.status import ReportedWorker, StatusWriter, status_path
from framecast.worker.supervisor import SlotInfo


def fake_supervisor(states: list[ChildState | None], stopping: bool = False) -> SimpleNamespace:
    infos = [SlotInfo(index=n, pid=1000 + n if state else None, state=state, loads=n,
                      tasks_run=2 * n, task_id="cgt-1" if state is ChildState.RUNNING else None)
             for n, state in enumerate(states)]
    return SimpleNamespace(worker_id="w-1", stopping=stopping, slot_info=lambda: infos)


def test_an_api_process_reads_the_slots_the_worker_wrote(tmp_path: Path) -> None:
    supervisor = fake_supervisor([ChildState.RUNNING, ChildState.READY, None])
    path = status_path(tmp_path, os.getpid())
    writer = StatusWriter(supervisor, path, interval_s=60)
    writer.start()
    try:
        reported = ReportedWorker(path).read()
        assert reported.pid == os.getpid() and reported.stopping is False
        assert reported.slot_info() == supervisor.slot_info()
        assert slot_states(reported) == {"busy": 1, "idle": 1, "loading": 1, "defunct": 0}
        supervisor.stopping = True
        writer.write()
        assert ReportedWorker(path).read().stopping is True
    finally:
        writer.stop()
    assert not path.exists()
    assert ReportedWorker(path).read().pid is None and ReportedWorker(path).read().slot_info() == []


def test_a_worker_that_stopped_reporting_counts_as_stopping(tmp_path: Path) -> None:
    path = tmp_path / "worker.json"
    writer = StatusWriter(fake_supervisor([ChildState.READY]), path, interval_s=60)
    writer.write()
    body = json.loads(path.read_text())
    body["written_at"] -= 10.0   # the worker has been silent for 10 s
    path.write_text(json.dumps(body))
    reported = ReportedWorker(path, stale_s=5.0).read()
    assert reported.stopping is True and reported.pid is None and reported.slot_info() == []
    assert ReportedWorker(path, stale_s=30.0).read().slot_info()[0].state is ChildState.READY


def test_readyz_of_an_api_process_follows_the_worker_process(tmp_path: Path) -> None:
    from framecast.api.ops import _check_worker

    path = tmp_path / "worker.json"
    supervisor = fake_supervisor([ChildState.READY])
    runtime = SimpleNamespace(worker_view=lambda: ReportedWorker(path).read())
    silent = _check_worker(runtime)
    assert silent["ok"] is False and "has not reported" in silent["error"]
    StatusWriter(supervisor, path).write()
    ready = _check_worker(runtime)
    assert ready["ok"] is True and ready["embedded"] is True
    assert ready["worker_pid"] == os.getpid() and ready["idle"] == 1
    supervisor.slot_info = lambda: [SlotInfo(index=0, pid=None, state=ChildState.DEFUNCT,
                                             loads=1, tasks_run=0, task_id=None)]
    StatusWriter(supervisor, path).write()
    defunct = _check_worker(runtime)
    assert defunct["ok"] is False and defunct["error"] == "every engine slot is defunct"
    api_only = _check_worker(SimpleNamespace(worker_view=lambda: None))
    assert api_only["ok"] is True and api_only["embedded"] is False


def test_a_killed_workers_snapshot_is_removed_when_the_next_one_starts(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = status_path(tmp_path, dead.pid)
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    alive = status_path(tmp_path, os.getppid())     # a live process's: kept
    alive.write_text("{}")
    supervisor = SimpleNamespace(worker_id="w", stopping=False, slot_info=lambda: [])
    writer = StatusWriter(supervisor, status_path(tmp_path, os.getpid()), interval_s=60)
    writer.start()
    try:
        assert not stale.exists() and alive.exists()
        assert status_path(tmp_path, os.getpid()).exists()
    finally:
        writer.stop()
