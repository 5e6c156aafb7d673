"""How ``framecast serve``'s worker process shows its engine slots to serve's API processes.

``serve`` runs its worker supervisor in the process it started as and the HTTP API in child
processes, so ``/readyz`` and ``/metrics``, answered by an API process, cannot ask the
supervisor directly. ``StatusWriter`` (in the worker process) writes a snapshot of the
slots to a small JSON file in the data directory once a second, replacing it atomically;
``ReportedWorker`` (in an API process) reads it, once per question asked. A snapshot older than
``STALE_S`` means the worker stopped reporting, and the worker counts as stopping.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from framecast.worker.messages import ChildState
from framecast.worker.supervisor import SlotInfo

log = logging.getLogger("framecast.worker")

INTERVAL_S = 1.0    # how often the worker process writes its snapshot
STALE_S = 5.0       # a snapshot older than this: the worker stopped reporting


def status_path(data_dir: Path, pid: int) -> Path:
    """Where the worker process ``pid`` of a serve on ``data_dir`` writes its snapshot."""
    return data_dir / "run" / f"worker-{pid}.json"


def remove_dead_snapshots(run_dir: Path) -> int:
    """Delete ``worker-<pid>.json`` files whose process is gone; how many went."""
    removed = 0
    for path in run_dir.glob("worker-*.json"):
        try:
            pid = int(path.stem.removeprefix("worker-"))
        except ValueError:
            continue
        if pid == os.getpid() or _alive(pid):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # another user's live process
        return True
    return True


class StatusWriter:
    """Writes ``supervisor``'s snapshot to ``path`` every ``interval_s`` until stopped."""

    def __init__(self, supervisor: Any, path: Path, interval_s: float = INTERVAL_S) -> None:
        self.supervisor = supervisor
        self.path = path
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Remove the snapshots of dead workers (a kill -9 leaves its file), write the first
        snapshot now and the next ones from a background thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_snapshots(self.path.parent)
        self.write()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="framecast-worker-status")
        self._thread.start()

    def write(self) -> None:
        """Replace the snapshot file with the supervisor's current state."""
        sup = self.supervisor
        body = {"worker_id": sup.worker_id, "pid": os.getpid(), "stopping": sup.stopping,
                "written_at": time.time(),
                "slots": [asdict(s) for s in sup.slot_info()]}   # ChildState: a str
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(body))
        partial.replace(self.path)

    def _run(self) -> None:
        failing = False     # say it once when writing starts failing, once when it works again
        while not self._stop.wait(self.interval_s):
            try:
                self.write()
            except OSError as exc:
                if not failing:
                    log.warning("could not write the worker status (%s); retrying quietly",
                                exc)
                failing = True
                continue
            if failing:
                log.info("the worker status is written again")
                failing = False

    def stop(self) -> None:
        """Stop writing and remove the file (the worker is gone)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s * 4)
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class WorkerSnapshot:
    """One read of the worker's snapshot: ``slot_info()``, ``stopping`` and ``pid``, what
    ``/readyz`` and ``/metrics`` ask a supervisor. ``pid`` None: no fresh snapshot."""

    pid: int | None
    stopping: bool
    slots: tuple[SlotInfo, ...] = ()

    def slot_info(self) -> list[SlotInfo]:
        """The slots as the worker last reported them."""
        return list(self.slots)


SILENT = WorkerSnapshot(pid=None, stopping=True)   # no snapshot, or a stale one


class ReportedWorker:
    """serve's worker as an API process sees it, read from the worker's snapshot file."""

    def __init__(self, path: Path, stale_s: float = STALE_S) -> None:
        self.path = path
        self.stale_s = stale_s

    def read(self) -> WorkerSnapshot:
        """The last snapshot, or ``SILENT`` when there is none or it is older than
        ``stale_s`` (the worker stopped reporting, and counts as stopping)."""
        try:
            body = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return SILENT
        if time.time() - float(body.get("written_at", 0)) > self.stale_s:
            return SILENT
        return WorkerSnapshot(pid=body["pid"], stopping=bool(body["stopping"]), slots=tuple(
            SlotInfo(**{**slot, "state": ChildState(slot["state"]) if slot["state"] else None})
            for slot in body["slots"]))
