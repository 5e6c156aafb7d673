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

With several slots and engines that run on a GPU (``gpu_engines``), each slot's child gets its
own GPU, or ``gpu_slots_per_device`` slots share one (``worker/gpus.py``); a supervisor that
would put more slots than that on a GPU refuses to be built (``ConfigError``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecast.blobs.base import BlobStore
from framecast.core.errors import StorageUnavailable
from framecast.core.task import HEARTBEAT_S, LEASE_S
from framecast.db.queue import TaskQueue
from framecast.media.images import ImageLimits
from framecast.worker.gpus import slot_gpus, visible_gpus
from framecast.worker.messages import ChildState
from framecast.worker.slot import (
    Backoff,
    EngineResolver,
    Slot,
    SlotContext,
    StopSignal,
    WorkerTimings,
    frozen_engine,
)
from framecast.worker.workdirs import WorkDirs

log = logging.getLogger("framecast.worker")

REAP_INTERVAL_S = 5.0    # how often the reaper re-queues lapsed leases and expires tasks
DRAIN_TIMEOUT_S = 10.0   # how long a graceful stop lets running tasks finish

@dataclass(frozen=True)
class SlotInfo:
    """What one slot looks like from outside (for tests, logs and metrics)."""

    index: int
    pid: int | None
    state: ChildState | None
    loads: int
    tasks_run: int
    task_id: str | None
    gpu: str | None = None    # the child's CUDA_VISIBLE_DEVICES (None: the worker's own)


class Supervisor:
    """Claims tasks for the engines it serves and runs them in spawned children.

    ``gpu_engines``: the engines served here that run on a GPU (``Engine.uses_gpu``); with
    more than one slot each child then gets its own GPU, ``gpu_slots_per_device`` slots at
    most per GPU. ``discover_gpus`` lists the GPUs (``visible_gpus``; tests fake it)."""

    def __init__(self, queue: TaskQueue, storage: BlobStore, *,
                 engines: set[str] | None = None,
                 resolve_engine: EngineResolver = frozen_engine,
                 slots: int = 1, work_root: Path,
                 worker_id: str | None = None,
                 heartbeat_s: float = HEARTBEAT_S, lease_s: float = LEASE_S,
                 poll_s: float = 1.0, kill_grace_s: float = 2.0,
                 progress_interval_s: float = 0.5, cancel_check_s: float = 0.5,
                 reap_interval_s: float = REAP_INTERVAL_S, warm_engines: int = 1,
                 nice: int = 0, image_limits: ImageLimits | None = None,
                 gpu_engines: Collection[str] = (), gpu_slots_per_device: int = 1,
                 discover_gpus: Callable[[], list[str]] = visible_gpus) -> None:
        gpus = slot_gpus(max(1, slots), gpu_engines, per_device=gpu_slots_per_device,
                         discover=discover_gpus)   # refuses before anything starts
        self.queue = queue
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{id(self) % 4096:x}"
        self.work_root = Path(work_root)
        self.work_dirs = WorkDirs(self.work_root)
        self.reap_interval_s = reap_interval_s
        self._signal = StopSignal()
        self.context = SlotContext(
            queue=queue, storage=storage, worker_id=self.worker_id,
            engines=sorted(engines) if engines is not None else None, work_dirs=self.work_dirs,
            timings=WorkerTimings(heartbeat_s=heartbeat_s, lease_s=lease_s, poll_s=poll_s,
                                  kill_grace_s=kill_grace_s,
                                  progress_interval_s=progress_interval_s,
                                  cancel_check_s=cancel_check_s),
            stop=self._signal, engine_for=resolve_engine, warm_engines=warm_engines, nice=nice,
            image_limits=image_limits or ImageLimits())
        self.slots = [Slot(self.context, n, gpu) for n, gpu in enumerate(gpus)]
        self._threads: list[threading.Thread] = []

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the slot threads (each spawns its child) and the reaper thread."""
        if self._threads or self._signal.stopping:
            raise RuntimeError("a supervisor starts once; make a new one after stop()")
        self.work_dirs.open()   # and remove what dead workers left under the work root
        self.queue.add_cancel_listener(self._on_cancel)
        for slot in self.slots:
            self._threads.append(threading.Thread(target=slot.loop, daemon=True,
                                                  name=f"framecast-slot-{slot.index}"))
        self._threads.append(threading.Thread(target=self._reap_loop, daemon=True,
                                              name="framecast-reaper"))
        for thread in self._threads:
            thread.start()
        engines = self.context.engines
        log.info("worker %s started: %d slot(s), engines %s", self.worker_id, len(self.slots),
                 ", ".join(engines) if engines is not None else "all")

    def stop(self, timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Stop claiming, let running tasks finish for up to ``timeout`` seconds, then kill
        what still runs and hand those tasks back to the queue; stop the children. A second
        call does nothing."""
        if self._signal.stopping and not self._threads:
            return
        self._signal.stop(timeout)
        self.queue.notify_local()
        join_by = self._signal.drain_deadline + self.context.timings.kill_grace_s + 15.0
        for thread in self._threads:
            thread.join(timeout=max(0.1, join_by - time.monotonic()))
            if thread.is_alive():
                log.error("thread %s did not stop", thread.name)
        self.queue.remove_cancel_listener(self._on_cancel)
        self._threads = []
        self.work_dirs.close()
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
        return self._signal.stopping

    def drain_expired(self) -> bool:
        """Whether running tasks must now be killed and handed back."""
        return self._signal.drain_expired()

    def slot_info(self) -> list[SlotInfo]:
        """A snapshot of every slot: child pid and state, engine loads, tasks run."""
        return [SlotInfo(index=s.index, pid=s.proc.pid if s.proc else None,
                         state=s.proc.state if s.proc else None, loads=s.loads,
                         tasks_run=s.tasks_run, task_id=s.current_task_id, gpu=s.gpu)
                for s in self.slots]

    # ---- background duties -----------------------------------------------------------------

    def _on_cancel(self, task_id: str) -> None:
        """A kill was requested somewhere: the slot running ``task_id`` checks at once."""
        for slot in self.slots:
            if slot.current_task_id == task_id or task_id in slot.tails:
                slot.kill_hint.set()

    def _reap_loop(self) -> None:
        """Expire overdue tasks, re-queue lapsed leases and keep the planner's statistics
        current; every worker may do this."""
        backoff = Backoff()
        while not self._signal.sleep(self.reap_interval_s):
            try:
                self.queue.expire_due()
                self.queue.requeue_lapsed()
                self.queue.refresh_statistics()
                backoff.reset()
            except StorageUnavailable as exc:    # a full disk: say so once per wait
                backoff.wait(self._signal, "reaper: the store cannot record", exc)
            except Exception:
                log.exception("reaper pass failed")
