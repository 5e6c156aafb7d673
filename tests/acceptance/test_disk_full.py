"""A full disk, for real: ``framecast serve`` with its data dir on a small tmpfs, filled to the
last byte. Creates in every dialect answer 503 with ``Retry-After`` in the dialect's envelope,
naming no path; a task whose outputs could not be written goes back to the queue, the worker
backs off quietly (a few log lines, no traceback), and once space returns the task succeeds.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from skimage import data as photos

from tests.acceptance.support.server import (
    API_KEY,
    SLEEPS_MODEL,
    Server,
    start_server,
    stop_server,
)
from tests.acceptance.support.ways import WAYS

TMPFS_BYTES = 24 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs (root may mount one; CI runs as root on this machine)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the injected-ENOSPC "
                    "tests in tests/integration/test_disk_full.py still run")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a filler file until the disk refuses another byte."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (256 * 1024, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def photo_uri() -> str:
    """A real photograph as a JPEG data URI."""
    out = io.BytesIO()
    Image.fromarray(photos.astronaut()).save(out, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def native(server: Server) -> httpx.Client:
    """A client of the native API."""
    return httpx.Client(base_url=server.root, timeout=30.0,
                        headers={"Authorization": f"Bearer {API_KEY}"})


def test_a_full_disk_is_a_503_then_the_task_succeeds_once_space_returns(
        small_disk: Path) -> None:
    server = start_server(small_disk / "data", slots=1, log_path=small_disk.parent / "server.log",
                          extra_env={"FRAMECAST_LEASE_S": "6", "FRAMECAST_HEARTBEAT_S": "1"})
    try:
        with native(server) as client:
            created = client.post("/framecast/v1/videos", json={
                "model": SLEEPS_MODEL, "prompt": "a harbour", "resolution": "480p"})
            assert created.status_code == 201, created.text
            task_id = created.json()["id"]
            filler = fill(small_disk)        # while the engine sleeps: its outputs won't fit
            uri = photo_uri()
            for name, way in WAYS.items():
                reply = httpx.post(f"{server.root}{way.path}", json=way.body(uri),
                                   headers=way.headers or {"Authorization": f"Bearer {API_KEY}"},
                                   timeout=30.0)
                assert reply.status_code == 503, (name, reply.text)
                assert int(reply.headers["Retry-After"]) >= 1, name
                message = way.refusal(reply)[1]
                assert "full" in message and "tasks/" not in message and "/" not in message, \
                    (name, message)
            time.sleep(12)          # the engine finished; its outputs met the full disk
            assert client.get(f"/framecast/v1/tasks/{task_id}").json()["status"] != "failed"
            filler.unlink()
            deadline = time.monotonic() + 120
            while (task := client.get(f"/framecast/v1/tasks/{task_id}").json())["status"] \
                    not in ("succeeded", "failed"):
                assert time.monotonic() < deadline, task
                time.sleep(0.5)
            assert task["status"] == "succeeded", task
    finally:
        stop_server(server)
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    assert any("trying again in" in line for line in warnings), "\n".join(warnings)
    assert len(warnings) <= 25, "a log storm:\n" + "\n".join(warnings)
