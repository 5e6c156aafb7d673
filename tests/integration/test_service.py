"""``TaskService``'s create path on SQLite and PostgreSQL: the engine and its options are frozen
into the row, so a worker runs what the row says whatever ``framecast.toml`` says later; a
dialect's record (Wiro's socket token) is written in the task's own transaction."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from framecast.blobs import LocalStore
from framecast.core.errors import InvalidInput
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.core.task import TaskStatus
from framecast.db.queue import TaskQueue
from framecast.service.registry import ModelEntry, Registry
from framecast.service.tasks import DialectRecord, TaskService
from framecast.worker.supervisor import Supervisor

MODEL = "fc-sleepy"


def registry(seconds: float) -> Registry:
    """Built-ins, and ``MODEL`` served by the ``sleeps`` test engine for ``seconds``."""
    entry = ModelEntry(id=MODEL, kind="video", engine="sleeps", options={"seconds": seconds})
    return Registry([*Registry.load(None).entries, entry])


def service_over(queue: TaskQueue, tmp_path: Path, reg: Registry) -> TaskService:
    storage = LocalStore(tmp_path / "files", secret=b"k" * 32, base_url="http://files")
    return TaskService(queue, storage, reg)


def spec(model: str = MODEL) -> VideoSpec:
    return VideoSpec(model=model, prompt="a boat", resolution="480p", frames=29)


def test_the_engine_and_its_options_are_frozen_into_the_row(queue: TaskQueue,
                                                            tmp_path: Path) -> None:
    service = service_over(queue, tmp_path, registry(0.2))
    task = asyncio.run(service.create_video(spec(), owner_id="alice", dialect="ark"))
    stored = queue.get(task.id)
    assert (stored.engine, stored.engine_options) == ("sleeps", {"seconds": 0.2})
    image = asyncio.run(service.create_image(ImageSpec(model="seedream-3-0-t2i", prompt="x"),
                                             owner_id="alice", dialect="ark"))
    assert queue.get(image.id).engine_options == {}        # a built-in entry: no options


def test_a_worker_runs_the_options_of_the_row_not_of_the_edited_config(
        db_url: str, tmp_path: Path) -> None:
    queue = TaskQueue.open(db_url)
    try:
        service = service_over(queue, tmp_path, registry(0.2))
        task = asyncio.run(service.create_video(spec(), owner_id="alice", dialect="ark"))
        # framecast.toml now says 60 s; the worker is started from it, and must not care
        sup = Supervisor(queue, service.storage, engines=registry(60).engines(), slots=1,
                         work_root=tmp_path / "work", poll_s=0.1)
        sup.start()
        try:
            deadline = time.monotonic() + 30
            while not queue.get(task.id).terminal and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            sup.stop(timeout=1)
        done = queue.get(task.id)
        assert done.status == TaskStatus.SUCCEEDED, done.error_message
        assert done.engine_seconds < 10       # it slept 0.2 s, not 60
    finally:
        queue.close()


def test_a_dialect_record_is_written_with_its_task(queue: TaskQueue, tmp_path: Path) -> None:
    service = service_over(queue, tmp_path, registry(0.2))
    seen = []

    def record(resolved: VideoSpec | ImageSpec) -> DialectRecord:
        seen.append(resolved)
        return DialectRecord(access_token="TOKEN-1", data={"frames": resolved.frames_total})

    task = asyncio.run(service.create_video(spec(), owner_id="alice", dialect="wiro",
                                            record=record))
    assert seen[0].frames_total == 29 and seen[0].width == 864    # made from the resolved spec
    kept = service.record_of(task.id)
    assert kept is not None and (kept.access_token, kept.data) == ("TOKEN-1", {"frames": 29})
    assert service.record_by_token("TOKEN-1").task_id == task.id
    assert service.task_of_record(kept).id == task.id


def test_a_record_that_cannot_be_written_creates_no_task(queue: TaskQueue,
                                                         tmp_path: Path) -> None:
    service = service_over(queue, tmp_path, registry(0.2))
    asyncio.run(service.create_video(spec(), owner_id="alice", dialect="wiro",
                                     record=lambda _: DialectRecord(access_token="SAME")))
    with pytest.raises(InvalidInput):
        asyncio.run(service.create_video(spec(), owner_id="alice", dialect="wiro",
                                         record=lambda _: DialectRecord(access_token="SAME")))
    total, _ = queue.list("alice")
    assert total == 1                     # the task and its record commit together, or neither
