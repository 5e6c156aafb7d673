"""Retention: finished tasks, their records and every file they have (inputs and outputs),
are kept ``retention_s`` seconds after they end (the hosted API keeps tasks 7 days), then
purged.

The purge runs in every process that runs background work (each API process and each
worker), every ``interval_s`` seconds, in batches. It is idempotent and needs no
coordination between replicas: the files of a batch are deleted first, then the records,
each delete naming the same cut-off, so two replicas purging at once delete the same
things twice at worst, and a purge interrupted between the two steps leaves a record whose
files are gone, which the next pass removes. Queued and running tasks are never touched.
"""

from __future__ import annotations

import logging
import threading
import time

from framecast.blobs.base import BlobStore, task_prefix
from framecast.db.queue import TaskQueue

log = logging.getLogger("framecast.retention")

PURGE_BATCH = 200          # tasks per round trip
PURGE_INTERVAL_S = 300.0   # how often each process looks for expired tasks


class Purger:
    """Deletes finished tasks older than ``retention_s`` and their files."""

    def __init__(self, queue: TaskQueue, storage: BlobStore, *, retention_s: float,
                 interval_s: float = PURGE_INTERVAL_S, batch: int = PURGE_BATCH) -> None:
        self.queue = queue
        self.storage = storage
        self.retention_s = retention_s
        self.interval_s = interval_s
        self.batch = batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def purge_once(self, now: float | None = None) -> int:
        """One pass: every finished task that ended before ``now - retention_s`` loses its
        files, then its record (with its webhook rows and dialect record); returns how many
        records went."""
        cutoff = (now if now is not None else self.queue.clock()) - self.retention_s
        purged = 0
        kept: set[str] = set()   # tasks whose files could not be deleted: the next pass
        while not self._stop.is_set():
            limit = self.batch + len(kept)
            found = self.queue.finished_before(cutoff, limit=limit)
            gone = []
            for task_id in (t for t in found if t not in kept):
                try:
                    self.storage.delete_prefix(task_prefix(task_id))
                    gone.append(task_id)
                except Exception as exc:   # one stuck task must not stall the others
                    log.warning("retention: could not delete the files of task %s (%s); "
                                "its record stays until the next pass", task_id, exc)
                    kept.add(task_id)
            purged += self.queue.purge_finished(gone, cutoff)
            if len(found) < limit:
                break
        if purged:
            log.info("retention: purged %d task(s) that ended more than %.0f s ago", purged,
                     self.retention_s)
        return purged

    def start(self) -> None:
        """Purge now and every ``interval_s`` from a background thread."""
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="framecast-retention")
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a pass in progress ends after its current batch)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                self.purge_once()
            except Exception:
                log.exception("retention purge failed; trying again in %.0f s", self.interval_s)
            if self._stop.wait(max(1.0, self.interval_s - (time.monotonic() - started))):
                return
