"""``TaskService``'s create path on SQLite and PostgreSQL: the engine and its options are frozen
into the row, so a worker runs what the row says whatever ``framecast.toml`` says later; a
dialect's record (Wiro's socket token) is written in the task's own transaction."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from framecast.blobs import LocalStore
from framecast.core.errors import InvalidInput
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.core.task import Task, TaskStatus
from framecast.db.queue import TaskQueue
from framecast.engines.testing import InstantEngine
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


# ---- inputs: checked from the header, kept as sent, decoded by the worker ----------------

def jpeg(width: int = 640, height: int = 480, *, orientation: int = 1) -> bytes:
    """A photo-like JPEG (a gradient with detail), with an EXIF orientation."""
    import io

    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([(x * 255 // width), (y * 255 // height), ((x ^ y) & 255)], -1)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype("uint8")).save(buffer, format="JPEG", quality=90,
                                                  exif=exif.tobytes())
    return buffer.getvalue()


def data_uri(data: bytes) -> str:
    import base64

    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def with_first_frame(data: bytes, model: str = MODEL) -> VideoSpec:
    from framecast.core.spec import ImageInput

    return VideoSpec(model=model, prompt="a boat", resolution="480p", frames=29,
                     images=[ImageInput(role="first_frame", url=data_uri(data),
                                        param="content[1].image_url.url")])


class InputDigestEngine(InstantEngine):
    """A test engine: fails with the SHA-256 of every input file the worker handed it, so the
    test can compare them with the bytes the client sent."""

    name = "input-digest"

    def run(self, spec: Any, inputs: Any, progress: Any, cancelled: Any) -> Any:
        import hashlib

        files = sorted((inputs.work_dir / "inputs").iterdir())
        digests = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
        raise RuntimeError("inputs " + " ".join(digests))


def run_one(queue: TaskQueue, service: TaskService, tmp_path: Path, task_id: str) -> Task:
    """Run the worker until ``task_id`` ends."""
    sup = Supervisor(queue, service.storage, slots=1, work_root=tmp_path / "work", poll_s=0.1)
    sup.start()
    try:
        deadline = time.monotonic() + 60
        while not queue.get(task_id).terminal and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sup.stop(timeout=1)
    return queue.get(task_id)


def test_an_input_is_kept_as_sent_and_sized_as_displayed(queue: TaskQueue,
                                                         tmp_path: Path) -> None:
    import hashlib

    sent = jpeg(640, 480, orientation=6)       # shown 480 wide, 640 high
    service = service_over(queue, tmp_path, registry(0.2))
    task = asyncio.run(service.create_video(with_first_frame(sent), owner_id="alice",
                                            dialect="ark"))
    image = task.spec["images"][0]
    assert image["key"].endswith("/0-first_frame.jpeg") and image["url"] == "data:"
    assert (image["width"], image["height"]) == (480, 640)
    assert task.spec["ratio"] == "3:4"         # adaptive, from the size as displayed
    kept = service.storage.get_bytes(image["key"])
    assert hashlib.sha256(kept).hexdigest() == hashlib.sha256(sent).hexdigest()


def test_the_engine_receives_the_bytes_the_client_sent(db_url: str, tmp_path: Path) -> None:
    import hashlib

    sent = jpeg(800, 600)
    entry = ModelEntry(id="fc-digest", kind="video",
                       engine=f"{__name__}:InputDigestEngine")
    queue = TaskQueue.open(db_url)
    try:
        service = service_over(queue, tmp_path, Registry([*Registry.load(None).entries, entry]))
        task = asyncio.run(service.create_video(with_first_frame(sent, "fc-digest"),
                                                owner_id="alice", dialect="ark"))
        done = run_one(queue, service, tmp_path, task.id)
        assert done.status == TaskStatus.FAILED
        assert done.error_message.endswith("inputs " + hashlib.sha256(sent).hexdigest())
    finally:
        queue.close()


def test_an_image_that_passes_the_header_check_but_not_decoding_fails_its_task(
        db_url: str, tmp_path: Path) -> None:
    truncated = jpeg(800, 600)[:-3000]
    queue = TaskQueue.open(db_url)
    try:
        service = service_over(queue, tmp_path, registry(0.2))
        task = asyncio.run(service.create_video(with_first_frame(truncated), owner_id="alice",
                                                dialect="ark"))
        assert task.status == TaskStatus.QUEUED        # accepted: its header is whole
        done = run_one(queue, service, tmp_path, task.id)
        assert (done.status, done.error_code) == (TaskStatus.FAILED, "InvalidParameter")
        assert "`content[1].image_url.url`" in done.error_message
        assert "could not be decoded" in done.error_message
        assert done.reruns == 0                         # a bad file is not retried
    finally:
        queue.close()


def test_a_decompression_bomb_is_refused_at_create_before_any_decode(queue: TaskQueue,
                                                                     tmp_path: Path) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (6_600, 6_600)).save(buffer, format="PNG")     # 43.6 MP in a few kB
    service = service_over(queue, tmp_path, registry(0.2))
    spec = with_first_frame(buffer.getvalue())
    spec.images[0].url = spec.images[0].url.replace("image/jpeg", "image/png")
    started = time.perf_counter()
    with pytest.raises(InvalidInput) as caught:
        asyncio.run(service.create_video(spec, owner_id="alice", dialect="ark"))
    assert caught.value.param == "content[1].image_url.url"
    assert "40.0 MP" in caught.value.message
    assert time.perf_counter() - started < 1.0
    assert queue.list("alice")[0] == 0
