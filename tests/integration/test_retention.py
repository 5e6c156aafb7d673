"""Retention on SQLite and PostgreSQL: finished tasks older than the retention time lose
their files, records, webhook rows and dialect records in one purge; queued, running and
recent tasks are untouched; a second purge, or two purgers at once, change nothing more."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from framecast.blobs import BlobStore, LocalStore, input_key, open_store, output_key
from framecast.core.errors import StorageUnavailable
from framecast.db.queue import NewTask, TaskQueue
from framecast.db.tables import task_extras, webhook_deliveries
from framecast.service.retention import Purger
from tests.integration.conftest import FakeClock
from tests.s3server import S3Server

DAY = 86400.0
RETENTION_S = 7 * DAY


def _task(queue: TaskQueue, store: BlobStore, task_id: str, **extra: object) -> str:
    queue.enqueue(NewTask(id=task_id, owner_id="alice", kind="video", model="m",
                          engine="instant", spec={"prompt": "p"}, **extra))  # type: ignore[arg-type]
    store.put_bytes(input_key(task_id, 0, "first_frame", "jpeg"), b"jpeg", "image/jpeg")
    return task_id


def _finish(queue: TaskQueue, store: BlobStore, task_id: str) -> None:
    [claim] = queue.claim("w", None, 1)
    assert claim.task.id == task_id
    key = output_key(task_id, claim.task.attempt, "video.mp4")
    store.put_bytes(key, b"mp4", "video/mp4")
    output = {"name": "video.mp4", "key": key, "content_type": "video/mp4"}
    queue.finish(task_id, claim.lease_token, outputs=[output], seed=1, usage_tokens=1,
                 engine_seconds=0.1)


def _count(queue: TaskQueue, table: object) -> int:
    with queue.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_purge_removes_only_expired_finished_tasks(queue: TaskQueue, clock: FakeClock,
                                                     tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "files", secret=b"k" * 32, base_url="http://files")
    old = []
    for n in range(3):
        old.append(_task(queue, store, f"old-{n}", callback_url="http://hooks.example/x",
                         access_token=f"tok-{n}", dialect="wiro", extras={"n": n}))
        _finish(queue, store, old[-1])
    cancelled_old = _task(queue, store, "old-cancelled")
    queue.cancel_queued(cancelled_old, "alice")
    assert _count(queue, webhook_deliveries) == 3 and _count(queue, task_extras) == 3
    clock.advance(RETENTION_S + 60)
    recent = _task(queue, store, "recent")
    _finish(queue, store, recent)
    running = _task(queue, store, "running")
    [claim] = queue.claim("w", None, 1)
    assert claim.task.id == running
    queued = _task(queue, store, "queued")

    purger = Purger(queue, store, retention_s=RETENTION_S, batch=2)   # several batches
    assert purger.purge_once() == 4
    remaining = {t.id for t in queue.list("alice", limit=100)[1]}
    assert remaining == {recent, running, queued}
    for task_id in [*old, cancelled_old]:
        assert not (store.root / "tasks" / task_id).exists()
    for task_id in remaining:
        assert store.exists(input_key(task_id, 0, "first_frame", "jpeg"))
    assert _count(queue, webhook_deliveries) == 0 and _count(queue, task_extras) == 0

    assert purger.purge_once() == 0                                 # idempotent
    other = Purger(queue, store, retention_s=RETENTION_S)
    assert queue.purge_finished([recent, running, queued], clock() - RETENTION_S) == 0
    clock.advance(RETENTION_S + 1)
    # the running task is still running, however old: never purged
    assert other.purge_once() == 1                                  # only `recent` now
    assert {t.id for t in queue.list("alice", limit=100)[1]} == {running, queued}


def test_two_purgers_at_once_purge_each_task_once(queue: TaskQueue, clock: FakeClock,
                                                  tmp_path: Path) -> None:
    """Replicas need no coordination: run at the same moment, two purgers delete every
    expired task once between them, and every file."""
    store = LocalStore(tmp_path / "files", secret=b"k" * 32, base_url="http://files")
    for n in range(40):
        _finish(queue, store, _task(queue, store, f"t-{n:02d}"))
    clock.advance(RETENTION_S + 1)
    purgers = [Purger(queue, store, retention_s=RETENTION_S, batch=7) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(lambda p: p.purge_once(), purgers))
    assert sum(counts) == 40
    assert queue.list("alice", limit=100)[0] == 0
    assert not any((store.root / "tasks").iterdir())


def test_a_purge_deletes_the_objects_on_s3_and_skips_a_task_it_cannot_clean(
        queue: TaskQueue, clock: FakeClock, s3_env: S3Server) -> None:
    store = open_store(s3_env.new_url(), secret=b"k" * 32, base_url="http://files")
    for n in range(3):
        _finish(queue, store, _task(queue, store, f"s3-{n}"))
    clock.advance(RETENTION_S + 1)

    class Stuck:
        """The store, except that one task's files cannot be deleted (yet)."""

        stuck = True

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def delete_prefix(self, prefix: str) -> int:
            if self.stuck and prefix == "tasks/s3-0/":
                raise StorageUnavailable("the file store could not delete a file")
            return store.delete_prefix(prefix)

    stuck = Stuck()
    purger = Purger(queue, stuck, retention_s=RETENTION_S, batch=1)   # type: ignore[arg-type]
    assert purger.purge_once() == 2
    assert [t.id for t in queue.list("alice", limit=10)[1]] == ["s3-0"]
    assert store.exists(input_key("s3-0", 0, "first_frame", "jpeg"))
    assert not store.exists(input_key("s3-1", 0, "first_frame", "jpeg"))
    assert not store.exists(output_key("s3-2", 1, "video.mp4"))
    stuck.stuck = False
    assert purger.purge_once() == 1
    assert queue.list("alice", limit=10)[0] == 0
    assert not store.exists(input_key("s3-0", 0, "first_frame", "jpeg"))
