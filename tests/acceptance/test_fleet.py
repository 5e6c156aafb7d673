"""A fleet on this machine, sharing nothing but PostgreSQL and an S3 server (SeaweedFS): two
API processes (``serve --no-worker``) and ``framecast worker`` processes, each with a data
dir of its own. 40 video tasks go in through the official Ark SDK, spread over both APIs; one
worker is killed with SIGKILL (its process group, as a node loss would) while it runs a task,
another gets SIGTERM (drain) while it runs one. Every task succeeds; each video, downloaded
through its presigned URL, has the exact size and frame count; only the killed attempt ran
twice; and no data dir holds task media afterwards.
"""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from skimage import data as photos
from sqlalchemy import create_engine, text
from volcenginesdkarkruntime import Ark

from tests.acceptance.support.server import (
    API_KEY,
    REPO_ROOT,
    VIDEO_MODEL,
    Server,
    assert_clean_log,
    download,
    probe_mp4,
    start_server,
    stop_server,
    wait_task,
)
from tests.polling import eventually
from tests.s3server import S3Server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TASKS = 40
WIDTH, HEIGHT, FRAMES = 864, 480, 29        # 480p 16:9, --frames 29
WORKER_START_S = 60.0
MEDIA = {".mp4", ".png", ".jpeg", ".jpg", ".webp"}


@dataclass
class Worker:
    """A running ``framecast worker`` process (its own session: killable as a group)."""

    name: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        """Its whole log."""
        return self.log_path.read_text(errors="replace")


def start_worker(name: str, data_dir: Path, env: dict[str, str]) -> Worker:
    """``python -m framecast worker`` as ``FRAMECAST_WORKER_ID=name``, once it has started."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "framecast", "worker", "--data-dir", str(data_dir)],
        stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        env={**env, "FRAMECAST_WORKER_ID": name})
    worker = Worker(name, process, data_dir, log_path)
    deadline = time.monotonic() + WORKER_START_S
    while f"worker {name} started" not in worker.log():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"worker {name} did not start:\n{worker.log()[-3000:]}")
        time.sleep(0.1)
    return worker


def media_files(root: Path) -> list[Path]:
    """Every task file (video, frame, input picture) under ``root``."""
    return [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA]


def photo_data_uri() -> str:
    """A real photograph (scikit-image's coffee cup, 600×400) as a JPEG data URI."""
    out = io.BytesIO()
    Image.fromarray(photos.coffee()).save(out, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


@pytest.fixture
def fleet_env(postgres_url: str, s3_server: S3Server, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment every process of the fleet shares: the database, the bucket, the
    files secret; short leases so a killed worker's task comes back within seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMECAST_")}
    env.update(s3_server.env())
    env.update({
        "FRAMECAST_DATABASE_URL": postgres_url,
        "FRAMECAST_STORAGE_URL": s3_server.new_url(),
        "FRAMECAST_FILES_SECRET": "fleet-test-files-secret",
        "FRAMECAST_API_KEY": API_KEY,
        "FRAMECAST_LEASE_S": "6", "FRAMECAST_HEARTBEAT_S": "1", "FRAMECAST_POLL_S": "0.2",
        "FRAMECAST_DRAIN_S": "60",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p),
    })
    yield env


def running_on(database_url: str, worker_id: str) -> str | None:
    """The task ``worker_id`` runs now, if any (read from the shared database)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(
                "SELECT id FROM tasks WHERE status = 'running' AND worker_id = :w"),
                {"w": worker_id}).scalar()
    finally:
        engine.dispose()


def attempts(database_url: str) -> dict[str, int]:
    """Each task's attempt count."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT id, attempt FROM tasks")).all())  # type: ignore[arg-type]
    finally:
        engine.dispose()


def wait_running(database_url: str, worker: Worker, timeout_s: float = 60.0) -> str:
    """Wait until ``worker`` runs a task; its id."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task_id = running_on(database_url, worker.name)
        if task_id:
            return task_id
        time.sleep(0.05)
    raise AssertionError(f"worker {worker.name} ran nothing:\n{worker.log()[-3000:]}")


def test_a_fleet_sharing_only_postgres_and_s3_loses_nothing(
        fleet_env: dict[str, str], tmp_path: Path) -> None:
    env = fleet_env
    database_url = env["FRAMECAST_DATABASE_URL"]
    apis: list[Server] = []
    workers: list[Worker] = []
    try:
        for n in range(2):
            apis.append(start_server(tmp_path / f"api-{n}", extra_args=["--no-worker"],
                                     extra_env=env))
        clients = [Ark(base_url=api.base_url, api_key=API_KEY) for api in apis]
        photo = photo_data_uri()
        ids: list[tuple[int, str]] = []
        for n in range(TASKS):
            content: list[dict[str, Any]] = [{"type": "text", "text": (
                f"a slow push in on a cup of coffee --rs 480p --rt 16:9 --frames {FRAMES} "
                f"--seed {n}")}]
            if n % 2:
                content.append({"type": "image_url", "image_url": {"url": photo},
                                "role": "first_frame"})
            created = clients[n % 2].content_generation.tasks.create(model=VIDEO_MODEL,
                                                                     content=content)
            ids.append((n % 2, created.id))

        a = start_worker("w-a", tmp_path / "worker-a", env)
        b = start_worker("w-b", tmp_path / "worker-b", env)
        workers += [a, b]

        # node loss: worker a and its engine child die mid-task
        killed_task = wait_running(database_url, a)
        work = a.data_dir / "work"
        assert eventually(lambda: any(work.rglob(killed_task)), timeout_s=30)
        os.killpg(a.process.pid, signal.SIGKILL)
        a.process.wait(timeout=10)
        assert any(work.rglob(killed_task)), "the killed attempt left nothing to sweep"
        # its replacement starts on the same data dir and sweeps what the dead one left
        c = start_worker("w-c", a.data_dir, env)
        workers.append(c)

        # scale-down: worker b drains; the task it runs finishes there, once
        drained_task = wait_running(database_url, b)
        b.process.send_signal(signal.SIGTERM)
        assert b.process.wait(timeout=90) == 0, b.log()[-3000:]
        assert "draining" in b.log()

        results = {task_id: wait_task(clients[api], task_id, timeout_s=300)
                   for api, task_id in ids}
        assert {t.status for t in results.values()} == {"succeeded"}, {
            k: (t.status, t.error) for k, t in results.items() if t.status != "succeeded"}
        counts = attempts(database_url)
        assert counts[killed_task] == 2
        assert counts[drained_task] == 1
        assert {k: v for k, v in counts.items() if v != 1} == {killed_task: 2}

        # both APIs answer for every task; videos come from the store, presigned
        endpoint = env["AWS_ENDPOINT_URL"]
        for api, task_id in ids:
            task = clients[1 - api].content_generation.tasks.get(task_id=task_id)
            url = task.content.video_url
            assert url.startswith(endpoint) and "X-Amz-Signature=" in url
            info = probe_mp4(download(url))
            assert (info.width, info.height, info.frames) == (WIDTH, HEIGHT, FRAMES)
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
                worker.process.wait(timeout=90)
        for api in apis:
            stop_server(api)

    assert c.process.returncode == 0
    for root in [*(api.data_dir for api in apis), *(w.data_dir for w in workers)]:
        assert media_files(root) == [], f"{root} holds task media"
        scratch = root / "work"
        assert not scratch.exists() or not any(scratch.rglob("*")), f"{scratch} not empty"
    for api in apis:
        assert_clean_log(api)
    for worker in workers[1:]:    # (the killed one's log ends mid-sentence)
        assert "Traceback" not in worker.log(), worker.log()[-3000:]


def test_a_store_clients_cannot_reach_is_served_through_the_api(
        fleet_env: dict[str, str], tmp_path: Path) -> None:
    """``FRAMECAST_STORAGE_PRESIGN=false``: file URLs point at the API's ``/files`` route,
    which reads the object from S3; any replica with the same files secret answers them,
    and a tampered URL is refused."""
    env = {**fleet_env, "FRAMECAST_STORAGE_PRESIGN": "false"}
    serving = start_server(tmp_path / "serve", slots=1, extra_env=env)
    other = start_server(tmp_path / "api", extra_args=["--no-worker"], extra_env=env)
    try:
        client = Ark(base_url=serving.base_url, api_key=API_KEY)
        created = client.content_generation.tasks.create(model=VIDEO_MODEL, content=[
            {"type": "text", "text": f"a quiet harbour --rs 480p --rt 16:9 --frames {FRAMES}"},
            {"type": "image_url", "image_url": {"url": photo_data_uri()},
             "role": "first_frame"}])
        task = wait_task(client, created.id, timeout_s=120)
        assert task.status == "succeeded", task.error
        url = task.content.video_url
        assert url.startswith(f"{serving.root}/files/tasks/{created.id}/")
        whole = download(url)
        info = probe_mp4(whole)
        assert (info.width, info.height, info.frames) == (WIDTH, HEIGHT, FRAMES)
        part = httpx.get(url, headers={"Range": "bytes=100-1099"}, timeout=10)   # seeking
        assert part.status_code == 206 and part.content == whole[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{len(whole)}"
        elsewhere = url.replace(serving.root, other.root)
        assert probe_mp4(download(elsewhere)).frames == FRAMES
        tampered = url[:-6] + ("000000" if not url.endswith("000000") else "111111")
        refused = httpx.get(tampered, timeout=10)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "AccessDenied"
        assert media_files(serving.data_dir) == []
    finally:
        stop_server(serving)
        stop_server(other)
    assert_clean_log(serving)
    assert_clean_log(other)
