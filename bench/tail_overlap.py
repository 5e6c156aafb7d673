"""Benchmark: a GPU worker's throughput with each video's CPU tail overlapped with the next
task's denoising (the child's tail thread, ``worker/child.py``) against one task after
another, through the real worker: a ``Supervisor`` with a spawned engine child, a SQLite
queue and a local store, ``--tasks`` 5 s 480p videos queued at once.

The engine is ``wan_i2v`` with its GPU part simulated: ``--gpu-s`` seconds of "denoising"
spent asleep (a GPU step costs the host almost no CPU), then the real tail of a Wan video:
81 frames of a camera move over a photograph (scikit-image's ``coffee``, ``bench/retime.py``'s
clip) flow-retimed to 121 at 24 fps and H.264-encoded by ``write_video``, exactly what
``wan_i2v`` hands the tail thread. The two modes alternate ``--repeats`` times in one run; the
baseline is the same worker with the overlap off (``tail_overlaps`` false, as a CPU engine).

Reported: seconds from the first claim to the last task's end, tasks a minute, the ratio, and
each task's GPU-free tail seconds; every output is probed (864x480, 121 frames, 24 fps).
Run from the repository root:

    .venv/bin/python bench/tail_overlap.py [--tasks 4] [--gpu-s 4,8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from framecast.blobs import LocalStore
from framecast.core.spec import VideoSpec
from framecast.core.task import Task, TaskStatus
from framecast.db.queue import NewTask, TaskQueue
from framecast.engines._diffusers import video_outputs
from framecast.engines.base import Cancelled, Capabilities, Engine, EngineOutputs
from framecast.media.video import probe
from framecast.worker.supervisor import Supervisor

WIDTH, HEIGHT, FRAMES, FPS = 864, 480, 121, 24
NATIVE_FRAMES = 81
STEP_S = 0.25


class SimulatedGpuEngine(Engine):
    """``gpu_s`` seconds asleep in steps (progress and cancel checks, as a denoising loop),
    then ``wan_i2v``'s tail on 81 real frames; ``overlap`` says whether the worker may
    overlap that tail with the next task."""

    name: ClassVar[str] = "simulated_gpu"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"video"}))

    @classmethod
    def tail_overlaps(cls, options: dict[str, Any] | None = None) -> bool:
        return bool((options or {}).get("overlap"))

    def load(self) -> None:
        """Draw the 81 native frames once (not part of any task's time)."""
        from retime import camera_move

        self.frames = camera_move(WIDTH, HEIGHT, np.arange(NATIVE_FRAMES, dtype=np.float64))

    def run(self, spec: Any, inputs: Any, progress: Any, cancelled: Any) -> EngineOutputs:
        steps = max(1, round(float(self.options["gpu_s"]) / STEP_S))
        for step in range(steps):
            time.sleep(STEP_S)
            progress(step + 1, steps)
            if cancelled():
                raise Cancelled()
        return video_outputs(spec, self.frames, inputs, seed=spec.seed or 0,
                             info={"engine": self.name})


def run_once(root: Path, tasks: int, gpu_s: float, overlap: bool) -> dict[str, Any]:
    """Queue ``tasks`` videos, run them with one slot, and time them."""
    queue = TaskQueue.open(f"sqlite:///{root / 'framecast.db'}")
    store = LocalStore(root / "files", secret=b"bench", base_url="http://127.0.0.1:1")
    options = {"gpu_s": gpu_s, "overlap": overlap}
    ids = []
    for n in range(tasks):
        spec = VideoSpec(model="bench", prompt="a slow camera move", resolution="480p",
                         ratio="16:9", duration=5, width=WIDTH, height=HEIGHT,
                         frames_total=FRAMES, fps=FPS, seed=n)
        ids.append(f"cgt-bench-{n}")
        queue.enqueue(NewTask(id=ids[-1], owner_id="bench", kind="video", model="bench",
                              engine="tail_overlap:SimulatedGpuEngine",
                              spec=spec.model_dump(), usage_tokens=1))
    sup = Supervisor(queue, store, engines=None, slots=1, work_root=root / "work",
                     worker_id="bench", poll_s=0.1, heartbeat_s=2.0,
                     resolve_engine=lambda task: ("tail_overlap:SimulatedGpuEngine", options))
    sup.start()
    try:
        while not all(queue.get(i).terminal for i in ids):
            time.sleep(0.05)
        done: list[Task] = [queue.get(i) for i in ids]
    finally:
        sup.stop(timeout=0)
    for task in done:
        assert task.status is TaskStatus.SUCCEEDED, task
        info = probe(store.path(task.output("video.mp4").key))
        assert (info.width, info.height, info.frames, info.fps) == (WIDTH, HEIGHT, FRAMES, FPS)
    first = min(t.started_at or 0.0 for t in done)
    last = max(t.finished_at or 0.0 for t in done)
    queue.close()
    tails = [float((t.engine_info or {}).get("tail_seconds", 0.0)) for t in done]
    return {"seconds": last - first, "tails": tails}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--gpu-s", default="4,8", help="simulated GPU seconds per video")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{args.tasks} videos of {FRAMES} frames at {WIDTH}x{HEIGHT}, one slot")
    print("| GPU s per video | one after another: s (tasks/min) | overlapped: s (tasks/min) "
          "| ratio | tail s (overlapped, median) |")
    print("|---|---|---|---|---|")
    for gpu_s in (float(g) for g in args.gpu_s.split(",")):
        runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        for _ in range(args.repeats):
            for overlap in (False, True):
                with tempfile.TemporaryDirectory() as tmp:
                    runs[overlap].append(run_once(Path(tmp), args.tasks, gpu_s, overlap))
        serial = min(r["seconds"] for r in runs[False])
        overlapped = min(r["seconds"] for r in runs[True])
        tail = statistics.median(t for r in runs[True] for t in r["tails"])
        print(f"| {gpu_s:g} | {serial:.1f} ({60 * args.tasks / serial:.1f}) | "
              f"{overlapped:.1f} ({60 * args.tasks / overlapped:.1f}) | "
              f"{serial / overlapped:.2f}x | {tail:.2f} |")


if __name__ == "__main__":
    main()
