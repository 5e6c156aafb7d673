"""serve's processes: the process ``framecast serve`` starts as runs the worker, and
``--api-processes N`` API processes (1 by default) share one port. Tasks created through any
of them are served at once (on SQLite the enqueue's wake-up crosses processes on the wake-up
bus), ``/readyz`` in an API process reports the worker process's slots, and a kill -9 of the
parent leaves no API process holding the port. ``--single-process`` keeps API and worker in
one process."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.acceptance.support.server import API_KEY, assert_clean_log, start_server, stop_server

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


def _wait_succeeded(http: httpx.Client, task_id: str, within_s: float) -> float:
    """Seconds until ``task_id`` succeeded; fails after ``within_s``."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if http.get(f"{TASKS}/{task_id}").json()["status"] == "succeeded":
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} did not succeed within {within_s} s")


@pytest.mark.parametrize("layout", ["default", "single-process"])
def test_an_enqueue_wakes_the_worker_at_once(tmp_path: Path, layout: str) -> None:
    # a 30 s poll: only a wake-up from the API process can start the tasks in time
    server = start_server(tmp_path / "data", slots=1, models_toml=MODELS_TOML,
                          extra_env={"FRAMECAST_POLL_S": "30"},
                          extra_args=["--single-process"] if layout != "default" else [])
    try:
        with httpx.Client(base_url=server.root, timeout=30.0,
                          headers={"Authorization": f"Bearer {API_KEY}"}) as http:
            deadline = time.monotonic() + 30.0
            while (worker := http.get("/readyz").json()["checks"]["worker"])["idle"] != 1:
                assert time.monotonic() < deadline, worker
                time.sleep(0.1)
            assert worker["embedded"] is True
            assert worker["worker_pid"] == server.process.pid
            # the engine child runs below the API's CPU priority (app.WORKER_NICE)
            base = os.getpriority(os.PRIO_PROCESS, server.process.pid)
            engine_pid = worker["slots"][0]["pid"]
            assert os.getpriority(os.PRIO_PROCESS, engine_pid) == min(19, base + 5)
            for n in range(3):
                time.sleep(0.5)   # the slot is back waiting on its 30 s poll
                created = http.post(TASKS, json={"model": "fc-instant", "content": [
                    {"type": "text", "text": f"task {n} --rs 480p --frames 29"}]})
                assert created.status_code == 200, created.text
                assert _wait_succeeded(http, created.json()["id"], 5.0) < 5.0
        log = server.log_path.read_text(errors="replace")
        api_pids = set(re.findall(r"Started server process \[(\d+)\]", log))
        expected = {str(server.process.pid)} if layout != "default" else set()
        assert (api_pids & {str(server.process.pid)}) == expected, log[-3000:]
        assert len(api_pids) == 1
        [api_pid] = api_pids
        assert os.getpriority(os.PRIO_PROCESS, int(api_pid)) == base
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


@pytest.mark.parametrize("layout", [[], ["--single-process"]], ids=["default", "single-process"])
def test_listening_is_printed_once_the_first_curl_of_the_readme_is_answered(
        tmp_path: Path, layout: list[str]) -> None:
    """A new user's way in: ``framecast serve`` on a fresh data directory, and the README's
    first request sent the moment "listening" appears."""
    import subprocess
    import sys

    from tests.acceptance.support.server import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMECAST_")}
    env["PYTHONUNBUFFERED"] = "1"
    data = tmp_path / "framecast-data"
    process = subprocess.Popen(
        [sys.executable, "-m", "framecast", "serve", "--port", str(port), "--data-dir",
         str(data), *layout], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
        text=True, start_new_session=True)
    try:
        seen = []
        for line in process.stdout:        # type: ignore[union-attr]
            seen.append(line)
            if line.startswith("Framecast listening on"):
                break
        else:
            pytest.fail("serve ended without saying it listens:\n" + "".join(seen))
        key = (data / "api-key.txt").read_text().strip()
        answer = httpx.post(f"http://127.0.0.1:{port}/api/v3/images/generations", timeout=60.0,
                            headers={"Authorization": f"Bearer {key}"},
                            json={"model": "doubao-seedream-3-0-t2i-250415",
                                  "prompt": "a lighthouse at dusk", "size": "1280x720"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"][0]["url"].startswith(f"http://127.0.0.1:{port}/files/")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        if process.stdout is not None:
            process.stdout.close()
