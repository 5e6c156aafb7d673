"""A full disk, injected (no mount needed; tests/acceptance/test_disk_full.py fills a real
tmpfs): a create whose input cannot be stored, or whose row cannot be written, is
``StorageUnavailable`` (503 with Retry-After at every API), its message naming no path, and
nothing of the task is left behind."""

from __future__ import annotations

import asyncio
import base64
import errno
import io
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as photos
from sqlalchemy.exc import OperationalError

from framecast.blobs import LocalStore
from framecast.core.errors import StorageUnavailable
from framecast.core.spec import ImageInput, VideoSpec
from framecast.db.queue import TaskQueue, full_disk_passes
from framecast.service.registry import Registry
from framecast.service.tasks import TaskService


class FullDisk(LocalStore):
    """A local store on a disk with no space left."""

    def put_bytes(self, key: str, data: bytes, content_type: str) -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        raise_full = OSError(errno.ENOSPC, "No space left on device", str(target))
        from framecast.blobs.base import storage_failure

        raise storage_failure("write", key, raise_full) from raise_full


def photo_uri() -> str:
    out = io.BytesIO()
    Image.fromarray(photos.coffee()).save(out, "JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def test_a_create_whose_input_cannot_be_stored_is_a_503_naming_no_path(
        queue: TaskQueue, tmp_path: Path) -> None:
    store = FullDisk(tmp_path / "files", secret=b"k" * 32, base_url="http://files")
    service = TaskService(queue, store, Registry.load(None))
    spec = VideoSpec(model="doubao-seedance-1-0-pro-250528", prompt="steam", resolution="480p",
                     frames=29, images=[ImageInput(role="first_frame", url=photo_uri())])
    with pytest.raises(StorageUnavailable) as caught:
        asyncio.run(service.create_video(spec, owner_id="alice", dialect="ark"))
    error = caught.value
    assert (error.status, error.code) == (503, "ServiceUnavailable")
    assert error.retry_after == "30"
    assert "full" in error.message and "/" not in error.message
    assert queue.list("alice")[0] == 0
    assert not any((tmp_path / "files").rglob("*.jpeg"))


def test_a_database_on_a_full_disk_is_unavailable_not_an_internal_error() -> None:
    sqlite_full = OperationalError("INSERT …", {}, Exception("database or disk is full"))
    with pytest.raises(StorageUnavailable, match="storage is full"), full_disk_passes():
        raise sqlite_full
    other = OperationalError("SELECT …", {}, Exception("no such table: tasks"))
    with pytest.raises(OperationalError), full_disk_passes():
        raise other
