"""The per-key queued-task quota of ``TaskService``, on SQLite and PostgreSQL: exact at the
limit although a busy key's count is not re-read on every create."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from framecast.blobs import LocalStore
from framecast.core.errors import RateLimited
from framecast.core.spec import VideoSpec
from framecast.db.queue import TaskQueue
from framecast.service.registry import Registry
from framecast.service.tasks import ServiceLimits, TaskService

MODEL = "seedance-1-0-pro"


def service_with_limit(queue: TaskQueue, tmp_path: Path, limit: int) -> TaskService:
    """A service over ``queue`` whose keys may hold ``limit`` queued tasks."""
    storage = LocalStore(tmp_path / "files", secret=b"k" * 32, base_url="http://files")
    return TaskService(queue, storage, Registry.load(None),
                       ServiceLimits(max_queued_per_key=limit))


def create(service: TaskService, owner: str) -> str:
    """Create a text-only video task for ``owner``; its id."""
    spec = VideoSpec(model=MODEL, prompt="a boat", resolution="480p", frames=29)
    return asyncio.run(service.create_video(spec, owner_id=owner, dialect="ark")).id


def test_the_queued_limit_is_exact_per_key(queue: TaskQueue, tmp_path: Path) -> None:
    service = service_with_limit(queue, tmp_path, 3)
    ids = [create(service, "alice") for _ in range(3)]
    with pytest.raises(RateLimited, match="3 queued tasks"):
        create(service, "alice")
    create(service, "bob")                              # another key has its own quota
    queue.cancel_queued(ids[0], "alice")                # a slot frees up: the next create
    create(service, "alice")                            # re-counts and is let in
    with pytest.raises(RateLimited):
        create(service, "alice")


def test_tasks_queued_by_another_process_count_too(queue: TaskQueue, tmp_path: Path) -> None:
    first = service_with_limit(queue, tmp_path, 10)
    second = service_with_limit(queue, tmp_path, 10)
    for _ in range(9):
        create(second, "alice")
    create(first, "alice")            # 9 seen in the store: near the limit, counted each time
    with pytest.raises(RateLimited, match="10 queued tasks"):
        create(first, "alice")
