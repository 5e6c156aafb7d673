"""``framecast serve --api-processes N``: several API processes share one port while the
parent runs the worker; tasks created through any of them are served, and a kill -9 of the
parent leaves no API process holding the port."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest
from ark_support import API_KEY, assert_clean_log, start_server, stop_server

pytestmark = pytest.mark.slow

MODELS_TOML = """
[[models]]
id = "fc-instant"
kind = "video"
engine = "instant"
default_resolution = "480p"
"""
TASKS = "/api/v3/contents/generations/tasks"
ORPHAN_EXIT_S = 10.0


def test_api_processes_share_the_port_and_the_parent_runs_the_worker(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", slots=1, models_toml=MODELS_TOML,
                          extra_args=["--api-processes", "2"])
    try:
        with httpx.Client(base_url=server.root, timeout=30.0,
                          headers={"Authorization": f"Bearer {API_KEY}"}) as http:
            ids = []
            for n in range(8):
                created = http.post(TASKS, json={"model": "fc-instant", "content": [
                    {"type": "text", "text": f"task {n} --rs 480p --frames 29"}]})
                assert created.status_code == 200, created.text
                ids.append(created.json()["id"])
            deadline = time.monotonic() + 60.0
            pending = set(ids)
            while pending and time.monotonic() < deadline:
                for task_id in sorted(pending):
                    if http.get(f"{TASKS}/{task_id}").json()["status"] == "succeeded":
                        pending.discard(task_id)
                time.sleep(0.2)
            assert not pending, f"not served: {pending}\n{server.log_tail()}"
        log = server.log_path.read_text(errors="replace")
        started = set(re.findall(r"Started server process \[(\d+)\]", log))
        assert len(started) == 2, log[-3000:]
        assert str(server.process.pid) not in started   # the parent serves no requests
    finally:
        stop_server(server)
    assert_clean_log(server)


def test_kill_9_of_the_parent_takes_its_api_processes_down(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", slots=1, models_toml=MODELS_TOML,
                          extra_args=["--api-processes", "2"])
    try:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        deadline = time.monotonic() + ORPHAN_EXIT_S
        answering = True
        while answering and time.monotonic() < deadline:
            try:
                httpx.get(f"{server.root}/healthz", timeout=0.5)
                time.sleep(0.2)
            except httpx.HTTPError:
                answering = False
        assert not answering, "an API process outlived its parent and still holds the port"
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.process.pid, signal.SIGKILL)
