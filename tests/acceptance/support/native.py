"""Support for the native API's acceptance tests: the servers' model registry, reading the
event stream over raw HTTP (so a test can drop a connection where it likes), polling a task,
and reading Prometheus samples."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance.support.server import TASK_TIMEOUT_S, TERMINAL

STEPS_MODEL = "fc-native-steps"     # sleeps 3 s in 60 steps: a stream with many steps
HOLD_MODEL = "fc-native-hold"       # sleeps 1.5 s: holds the one slot so others queue
FAILS_MODEL = "fc-test-fails"       # ark_engines:FailsEngine
STEPS = 60


def native_models_toml(local_weights: Path) -> str:
    """The native test server's ``framecast.toml``."""
    return f"""
[[models]]
id = "{STEPS_MODEL}"
kind = "video"
engine = "sleeps"
default_resolution = "480p"
[models.options]
seconds = 3.0

[[models]]
id = "{HOLD_MODEL}"
kind = "video"
engine = "sleeps"
default_resolution = "480p"
[models.options]
seconds = 1.5

[[models]]
id = "{FAILS_MODEL}"
kind = "video"
engine = "tests.acceptance.support.ark_engines:FailsEngine"
default_resolution = "480p"

[[models]]
id = "fc-weights-missing"
kind = "video"
engine = "tests.acceptance.support.native_engines:WeightsEngine"
weights = "/nonexistent/framecast-test-weights"
default_resolution = "480p"
resolutions = ["480p", "720p"]

[[models]]
id = "fc-weights-local"
kind = "video"
engine = "tests.acceptance.support.native_engines:WeightsEngine"
weights = "{local_weights}"
default_resolution = "480p"

[[models]]
id = "fc-weights-hub"
kind = "video"
engine = "tests.acceptance.support.native_engines:WeightsEngine"
weights = "acme/tiny-video"
default_resolution = "480p"
"""


def read_events(http: httpx.Client, task_id: str, *, last_event_id: int | None = None,
                stop: Callable[[dict[str, Any]], bool] = lambda _e: False,
                timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Read ``/events`` until the stream ends or ``stop(event)`` (then drop the connection).
    Each event is ``{"id", "event", "data"}``."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    seen: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    with http.stream("GET", f"/framecast/v1/tasks/{task_id}/events", headers=headers,
                     timeout=timeout_s) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "data" in fields:
                event = {"id": int(fields["id"]), "event": fields["event"],
                         "data": json.loads(fields["data"])}
                seen.append(event)
                if stop(event):
                    return seen
            fields = {}
    return seen


def wait_native(http: httpx.Client, task_id: str, *, until: tuple[str, ...] = TERMINAL,
                timeout_s: float = TASK_TIMEOUT_S) -> dict[str, Any]:
    """Poll ``GET /framecast/v1/tasks/{id}`` until its status is one of ``until``."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = http.get(f"/framecast/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        task = response.json()
        if task["status"] in until:
            return task
        assert time.monotonic() < deadline, f"task {task_id} still {task['status']}"
        time.sleep(0.05)


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, keyed by (name, sorted labels)."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
