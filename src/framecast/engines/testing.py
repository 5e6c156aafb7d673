"""Engines that misbehave on purpose, for the worker's fault tests and the control-plane
benchmarks. None of them is meant for users.

* ``instant`` (:class:`InstantEngine`): finishes at once. Its outputs are tiny but valid files
  (a 64×64, 2-frame MP4; a 64×64 PNG) made once per process and copied, while the reported
  ``OutputFileInfo`` carries the spec's size, frame count and fps, so the control plane sees
  an ordinary result at near-zero cost. Bench-only: the file does not match the reported size.
* ``sleeps`` (:class:`SleepsEngine`): sleeps ``options["seconds"]`` (default 2) in 0.05 s
  slices, reporting progress and honouring cancel, then writes what ``instant`` writes.
* ``dies_mid_run`` (:class:`DiesMidRunEngine`): reports progress, then SIGKILLs its own
  process, as an out-of-memory kill would. It dies on the first ``options["times"]``
  attempts (default 1) of a task and succeeds after that; attempts are counted in a marker
  file in ``options["marker_dir"]`` (default: the work dir's parent), keyed by a hash of the
  spec since engines do not see task ids.
* ``raises_in_load`` (:class:`RaisesInLoadEngine`): ``load()`` raises ``RuntimeError``.

All accept both kinds and every image role.
"""

from __future__ import annotations

import hashlib
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from framecast.core.spec import ImageSpec, VideoSpec
from framecast.engines.base import (
    Cancelled,
    CancelledFn,
    Capabilities,
    Engine,
    EngineInputs,
    EngineOutputs,
    OutputFileInfo,
    ProgressFn,
)
from framecast.media.video import VideoWriter, save_png

_ACCEPT_ALL = Capabilities(
    kinds=frozenset({"video", "image"}),
    roles=frozenset({"first_frame", "last_frame", "reference_image"}),
    max_reference_images=4,
)
TINY_SIDE_PX = 64
SLEEP_SLICE_S = 0.05
DEFAULT_SLEEP_S = 2.0

_tiny_files: dict[str, bytes] = {}
_tiny_lock = threading.Lock()


def _tiny_file(name: str) -> bytes:
    """The bytes of a tiny valid ``video.mp4`` or PNG, encoded once per process."""
    with _tiny_lock:
        if name not in _tiny_files:
            gray = np.full((TINY_SIDE_PX, TINY_SIDE_PX, 3), 128, np.uint8)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / name
                if name.endswith(".mp4"):
                    with VideoWriter(path, TINY_SIDE_PX, TINY_SIDE_PX, 24) as writer:
                        writer.write(gray)
                        writer.write(gray)
                else:
                    save_png(gray, path)
                _tiny_files[name] = path.read_bytes()
        return _tiny_files[name]


def write_placeholder_outputs(spec: VideoSpec | ImageSpec, work_dir: Path) -> list[OutputFileInfo]:
    """Write tiny outputs for ``spec`` into ``work_dir``, reported at the spec's size."""
    width = spec.width or TINY_SIDE_PX
    height = spec.height or TINY_SIDE_PX
    if isinstance(spec, ImageSpec):
        path = work_dir / "image.png"
        path.write_bytes(_tiny_file("tiny.png"))
        return [OutputFileInfo(name="image.png", path=path, content_type="image/png",
                               width=width, height=height)]
    path = work_dir / "video.mp4"
    path.write_bytes(_tiny_file("tiny.mp4"))
    files = [OutputFileInfo(name="video.mp4", path=path, content_type="video/mp4",
                            width=width, height=height, frames=spec.frames_total or 2,
                            fps=spec.fps)]
    if spec.return_last_frame:
        last = work_dir / "last_frame.png"
        last.write_bytes(_tiny_file("tiny.png"))
        files.append(OutputFileInfo(name="last_frame.png", path=last, content_type="image/png",
                                    width=width, height=height))
    return files


class InstantEngine(Engine):
    """Finishes at once with tiny placeholder outputs (bench and tests only)."""

    name: ClassVar[str] = "instant"
    capabilities: ClassVar[Capabilities] = _ACCEPT_ALL

    def load(self) -> None:
        """Encode the tiny files now, so that no task pays for it."""
        _tiny_file("tiny.mp4")
        _tiny_file("tiny.png")

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Write the placeholders and report one step of one."""
        self.check_inputs(spec, inputs)
        files = write_placeholder_outputs(spec, inputs.work_dir)
        progress(1, 1)
        return EngineOutputs(files=files, seed=spec.seed or 0, info={"engine": self.name})


class SleepsEngine(Engine):
    """Sleeps ``options["seconds"]`` in slices, reporting progress, honouring cancel."""

    name: ClassVar[str] = "sleeps"
    capabilities: ClassVar[Capabilities] = _ACCEPT_ALL

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Sleep, then write what ``instant`` writes."""
        self.check_inputs(spec, inputs)
        seconds = float(self.options.get("seconds", DEFAULT_SLEEP_S))
        slices = max(1, round(seconds / SLEEP_SLICE_S))
        for step in range(slices):
            if cancelled():
                raise Cancelled()
            time.sleep(seconds / slices)
            progress(step + 1, slices)
        files = write_placeholder_outputs(spec, inputs.work_dir)
        return EngineOutputs(files=files, seed=spec.seed or 0,
                             info={"engine": self.name, "slept_s": seconds})


class DiesMidRunEngine(Engine):
    """SIGKILLs its own process mid-run on a task's first ``options["times"]`` attempts."""

    name: ClassVar[str] = "dies_mid_run"
    capabilities: ClassVar[Capabilities] = _ACCEPT_ALL

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Die (attempts 1..times) or finish like ``instant`` (later attempts)."""
        self.check_inputs(spec, inputs)
        progress(1, 3)
        marker = self._marker(spec, inputs.work_dir)
        attempts = int(marker.read_text() or 0) if marker.exists() else 0
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(attempts + 1))
        if attempts < int(self.options.get("times", 1)):
            progress(2, 3)
            os.kill(os.getpid(), signal.SIGKILL)
        files = write_placeholder_outputs(spec, inputs.work_dir)
        progress(3, 3)
        return EngineOutputs(files=files, seed=spec.seed or 0,
                             info={"engine": self.name, "attempt": attempts + 1})

    def _marker(self, spec: VideoSpec | ImageSpec, work_dir: Path) -> Path:
        """The attempt counter of this task: the same spec across re-runs, one file."""
        folder = Path(self.options.get("marker_dir") or work_dir.parent)
        key = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]
        return folder / f"dies_mid_run-{key}.attempts"


class RaisesInLoadEngine(Engine):
    """``load()`` raises, as a missing or corrupt checkpoint would."""

    name: ClassVar[str] = "raises_in_load"
    capabilities: ClassVar[Capabilities] = _ACCEPT_ALL

    def load(self) -> None:
        """Fail on purpose."""
        raise RuntimeError("raises_in_load: load() fails on purpose (test engine)")

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Never reached in a worker (load failed); here only for completeness."""
        raise RuntimeError("raises_in_load: run() without a successful load()")
