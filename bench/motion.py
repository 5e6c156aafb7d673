"""Benchmark: the motion engine on a 5 s clip (121 frames at 24 fps) at 480p, 720p and 1080p.

For each size and mode it measures, in one run on this machine:

* motion: rendering every frame (camera warps, flow morphs), no encoding;
* VideoWriter: encoding those same frames with ``framecast.media.video.VideoWriter``;
* engine: ``MotionEngine.run`` end to end (rendering overlaps encoding in a thread);
* ffmpeg: the baseline, the same frames piped as raw rgb24 into the ffmpeg command line with
  libx264 (``-preset veryfast -crf 18 -pix_fmt yuv420p -movflags +faststart``), skipped with a
  message when ffmpeg is not installed.

Each stage reports its best wall time and, in brackets, its CPU time (all threads; ffmpeg's
own process included): on a shared machine other jobs stretch the wall clock but not the
CPU time, and on two idle cores the wall time of the engine approaches half its CPU time.
The frames are held in memory to encode the same ones twice (about 760 MB at 1080p).
Budgets: 480p within 2 s and 1080p within 10 s for the engine, encoding included, on two
cores. Run from the repository root:

    .venv/bin/python bench/motion.py                 # all sizes, both modes
    .venv/bin/python bench/motion.py --sizes 480p --modes first_frame --repeat 3
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from framecast.core.spec import ImageInput, VideoSpec
from framecast.engines.base import EngineInputs, InputImage
from framecast.engines.motion import MotionEngine, plan_motion, render_frames
from framecast.media.images import fit_cover, fit_last_frame
from framecast.media.video import VideoWriter

SIZES: dict[str, tuple[int, int]] = {"480p": (864, 480), "720p": (1248, 704),
                                     "1080p": (1920, 1088)}
BUDGET_S: dict[str, float] = {"480p": 2.0, "1080p": 10.0}
MODES = ("first_frame", "first_last")
PROMPT = "slow push in, then pan left"
FPS = 24
FRAMES = 121


def photo(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like input: detailed brightness under a smooth tint."""
    rng = np.random.default_rng(seed)
    luma = cv2.resize(rng.uniform(60, 200, size=(5, 7)).astype(np.float32), (width, height),
                      interpolation=cv2.INTER_CUBIC)
    for _ in range(80):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(8, min(width, height) // 8))
        cv2.circle(luma, (x, y), r, float(rng.uniform(20, 235)), -1, cv2.LINE_AA)
    luma += rng.normal(0, 3, luma.shape).astype(np.float32)
    tint = cv2.resize(rng.uniform(0.7, 1.3, size=(3, 4, 3)).astype(np.float32),
                      (width, height), interpolation=cv2.INTER_CUBIC)
    return Image.fromarray(np.clip(luma[..., None] * tint, 0, 255).astype(np.uint8))


def cpu_seconds() -> float:
    """CPU time used so far by this process (all threads) and its finished children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """The best wall time and the least CPU time of ``repeat`` runs, in seconds.

    CPU time is the steadier number on a shared machine: other jobs stretch the wall clock
    but not the work done.
    """
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        action()
        best_wall = min(best_wall, time.perf_counter() - start)
        best_cpu = min(best_cpu, cpu_seconds() - start_cpu)
    return best_wall, best_cpu


def ffmpeg_encode(frames: list[np.ndarray], width: int, height: int, out: Path) -> None:
    """Pipe raw rgb24 frames into the ffmpeg CLI (libx264, same settings as VideoWriter)."""
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", str(FPS), "-i", "-", "-c:v", "libx264",
               "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
               "-movflags", "+faststart", str(out)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert process.stdin is not None
    for frame in frames:
        process.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
    process.stdin.close()
    if process.wait() != 0:
        raise RuntimeError(f"ffmpeg failed with exit code {process.returncode}")


def bench_one(size: str, mode: str, repeat: int, has_ffmpeg: bool,
              tmp: Path) -> dict[str, tuple[float, float]]:
    """Time one size × mode; returns (wall, CPU) seconds per stage."""
    width, height = SIZES[size]
    first = photo(1600, 1000, seed=1)
    # The last frame: the same scene 60 px to the right, a little closer.
    last = first.transform(first.size, Image.Transform.AFFINE, (0.95, 0, 60, 0, 0.95, 20),
                           Image.Resampling.BICUBIC)
    images = [InputImage("first_frame", first)]
    if mode == "first_last":
        images.append(InputImage("last_frame", last))
    spec = VideoSpec(model="bench", prompt=PROMPT,
                     images=[ImageInput(role=i.role, url="data:") for i in images],
                     resolution=size, ratio="16:9", width=width, height=height,
                     frames_total=FRAMES, fps=FPS, seed=42, duration=5)
    keyframes = [np.asarray(fit_cover(first, width, height))]
    if mode == "first_last":
        keyframes.append(np.asarray(fit_last_frame(last, first.size, width, height)))

    frames: list[np.ndarray] = []

    def render() -> None:
        frames.clear()
        frames.extend(f.copy() for f in render_frames(plan_motion(spec, keyframes, mode)))

    def encode() -> None:
        with VideoWriter(tmp / "writer.mp4", width, height, FPS) as writer:
            for frame in frames:
                writer.write(frame)

    def engine() -> None:
        work = tmp / "engine"
        work.mkdir(exist_ok=True)
        MotionEngine().run(spec, EngineInputs(images=images, work_dir=work),
                           lambda step, total: None, lambda: False)

    result = {"motion": timed(render, repeat), "writer": timed(encode, repeat),
              "engine": timed(engine, repeat)}
    if has_ffmpeg:
        result["ffmpeg"] = timed(lambda: ffmpeg_encode(frames, width, height,
                                                       tmp / "ffmpeg.mp4"), repeat)
    frames.clear()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated: 480p,...")
    parser.add_argument("--modes", default=",".join(MODES), help="first_frame,first_last")
    parser.add_argument("--repeat", type=int, default=1, help="runs per stage; best is kept")
    args = parser.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    has_ffmpeg = shutil.which("ffmpeg") is not None
    if not has_ffmpeg:
        print("ffmpeg is not installed: the ffmpeg CLI baseline is skipped "
              "(install it, e.g. `apt-get install -y ffmpeg`, to compare).\n")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f} "
          f"at start; Python {platform.python_version()}, OpenCV {cv2.__version__}, "
          f"PyAV {av.__version__}")
    print(f"clip: {FRAMES} frames at {FPS} fps, prompt {PROMPT!r}; best of {args.repeat}\n")
    header = ("| size | mode | motion s (CPU) | VideoWriter s (CPU) | engine total s (CPU) | "
              "ffmpeg CLI s (CPU) | VideoWriter / ffmpeg | engine / (motion + ffmpeg) | "
              "budget |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for mode in modes:
                r = bench_one(size, mode, args.repeat, has_ffmpeg, Path(tmp))
                width, height = SIZES[size]

                def cell(stage: str, r: dict[str, tuple[float, float]] = r) -> str:
                    if stage not in r:
                        return "skipped"
                    wall, cpu = r[stage]
                    return f"{wall:.2f} ({cpu:.2f})"

                ff = r["ffmpeg"][0] if "ffmpeg" in r else None
                ratio_enc = f"{r['writer'][0] / ff:.2f}×" if ff else "–"
                ratio_all = f"{r['engine'][0] / (r['motion'][0] + ff):.2f}×" if ff else "–"
                budget = BUDGET_S.get(size)
                engine_wall = r["engine"][0]
                verdict = (f"≤ {budget:g} s: {'ok' if engine_wall <= budget else 'OVER'}"
                           if budget else "–")
                print(f"| {size} {width}×{height} | {mode} | {cell('motion')} | "
                      f"{cell('writer')} | {cell('engine')} | {cell('ffmpeg')} | {ratio_enc} | "
                      f"{ratio_all} | {verdict} |", flush=True)
    end_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average {end_load:.2f} at the end; wall times are best of {args.repeat}, "
          "CPU times (all threads, ffmpeg included) least of the same runs")
    print("\nreproduce: .venv/bin/python bench/motion.py "
          f"--sizes {','.join(sizes)} --modes {','.join(modes)} --repeat {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
