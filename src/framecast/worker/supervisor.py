"""The worker supervisor: engine slots that claim and run tasks, and a reaper.

``Supervisor.start()`` starts one thread per slot (each keeps one spawned engine child alive,
``worker/slot.py``) and a reaper thread that re-queues tasks whose lease lapsed and expires
overdue ones. ``framecast serve`` runs it inside the API process; ``framecast worker`` runs
``run_forever()`` against a shared database and blob store.

Shutdown (``stop``) loses nothing: claiming stops at once; running tasks get ``timeout``
seconds to finish; whatever still runs then is killed and handed back to the queue with
``TaskQueue.release`` (running → queued, no re-run counted), so another worker can take it
immediately instead of waiting for the lease to lapse. A supervisor killed outright (SIGKILL,
power loss) leaves its leases to lapse; the reaper of any worker re-queues those tasks.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecast.core.task import HEARTBEAT_S, LEASE_S, Task
from framecast.storage.base import BlobStore
from framecast.store.queue import TaskQueue
from framecast.worker.messages import ChildState
from framecast.worker.slot import Slot

log = logging.getLogger("framecast.worker")

REAP_INTERVAL_S = 5.0    # how often the reaper re-queues lapsed leases and expires tasks
DRAIN_TIMEOUT_S = 10.0   # how long a graceful stop lets running tasks finish

EngineResolver = Callable[[Task], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class SlotInfo:
    """What one slot looks like from outside (for tests, logs and metrics)."""

    index: int
    pid: int | None
    state: ChildState | None
    loads: int
    tasks_run: int
    task_id: str | None


def engine_of(task: Task) -> tuple[str, dict[str, Any]]:
    """The default resolver: the engine recorded on the task, with no options."""
    return task.engine, {}


class Supervisor:
    """Claims tasks for the engines it serves and runs them in spawned children."""

    def __init__(self, queue: TaskQueue, storage: BlobStore, *,
                 engines: set[str] | None = None,
                 resolve_engine: EngineResolver = engine_of,
                 slots: int = 1, work_root: Path,
                 worker_id: str | None = None,
                 heartbeat_s: float = HEARTBEAT_S, lease_s: float = LEASE_S,
                 poll_s: float = 1.0, kill_grace_s: float = 2.0,
                 progress_interval_s: float = 0.5, cancel_check_s: float = 0.5,
                 reap_interval_s: float = REAP_INTERVAL_S, warm_engines: int = 1,
                 nice: int = 0) -> None:
        self.queue = queue
        self.storage = storage
        self.engine_list = sorted(engines) if engines is not None else None
        self.resolve_engine = resolve_engine
        self.work_root = Path(work_root)
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{id(self) % 4096:x}"
        self.heartbeat_s = heartbeat_s
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.kill_grace_s = kill_grace_s
        self.progress_interval_s = progress_interval_s
        self.cancel_check_s = cancel_check_s
        self.reap_interval_s = reap_interval_s
        self.warm_engines = warm_engines
        self.nice = nice   # slot threads and engine children run this much below normal
        self.slots = [Slot(self, n) for n in range(max(1, slots))]
        self._stop = threading.Event()
        self._drain_deadline = float("inf")
        self._threads: list[threading.Thread] = []

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the slot threads (each spawns its child) and the reaper thread."""
        if self._threads or self._stop.is_set():
            raise RuntimeError("a supervisor starts once; make a new one after stop()")
        self.work_root.mkdir(parents=True, exist_ok=True)
        self.queue.add_cancel_listener(self._on_cancel)
        for slot in self.slots:
            self._threads.append(threading.Thread(target=slot.loop, daemon=True,
                                                  name=f"framecast-slot-{slot.index}"))
        self._threads.append(threading.Thread(target=self._reap_loop, daemon=True,
                                              name="framecast-reaper"))
        for thread in self._threads:
            thread.start()
        log.info("worker %s started: %d slot(s), engines %s", self.worker_id, len(self.slots),
                 ", ".join(self.engine_list) if self.engine_list is not None else "all")

    def stop(self, timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Stop claiming, let running tasks finish for up to ``timeout`` seconds, then kill
        what still runs and hand those tasks back to the queue; stop the children."""
        self._drain_deadline = time.monotonic() + max(0.0, timeout)
        self._stop.set()
        self.queue.notify_local()
        join_by = self._drain_deadline + self.kill_grace_s + 15.0
        for thread in self._threads:
            thread.join(timeout=max(0.1, join_by - time.monotonic()))
            if thread.is_alive():
                log.error("thread %s did not stop", thread.name)
        self.queue.remove_cancel_listener(self._on_cancel)
        self._threads = []
        log.info("worker %s stopped", self.worker_id)

    def run_forever(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Run until SIGTERM or SIGINT (``framecast worker``), then stop gracefully."""
        stop = threading.Event()
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda _s, _f: stop.set())
        self.start()
        try:
            while not stop.wait(1.0):
                pass
            log.info("worker %s: signal received; draining for up to %.0f s", self.worker_id,
                     drain_timeout_s)
        finally:
            self.stop(drain_timeout_s)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ---- what slots ask --------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The process the supervisor runs in."""
        return os.getpid()

    @property
    def stopping(self) -> bool:
        """Whether claiming has stopped."""
        return self._stop.is_set()

    def drain_expired(self) -> bool:
        """Whether running tasks must now be killed and handed back."""
        return self._stop.is_set() and time.monotonic() >= self._drain_deadline

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early when the supervisor stops."""
        self._stop.wait(seconds)

    def slot_info(self) -> list[SlotInfo]:
        """A snapshot of every slot: child pid and state, engine loads, tasks run."""
        return [SlotInfo(index=s.index, pid=s.proc.pid if s.proc else None,
                         state=s.proc.state if s.proc else None, loads=s.loads,
                         tasks_run=s.tasks_run, task_id=s.current_task_id)
                for s in self.slots]

    # ---- background duties -----------------------------------------------------------------

    def _on_cancel(self, task_id: str) -> None:
        """A kill was requested somewhere: the slot running ``task_id`` checks at once."""
        for slot in self.slots:
            if slot.current_task_id == task_id:
                slot.kill_hint.set()

    def _reap_loop(self) -> None:
        """Expire overdue tasks, re-queue lapsed leases and keep the planner's statistics
        current; every worker may do this."""
        while not self._stop.wait(self.reap_interval_s):
            try:
                self.queue.expire_due()
                self.queue.requeue_lapsed()
                self.queue.refresh_statistics()
            except Exception:
                log.exception("reaper pass failed")
