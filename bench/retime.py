"""Benchmark: the CPU tail of a Wan video (uint8 conversion, flow retiming 81 → 121 frames,
H.264), one morph after another against the morphs on a pool (``engines/_retime.py``).

The clip is a slow camera move over a real photograph (scikit-image's ``coffee``, scaled to
cover the frame with room to move): 81 frames at 16 fps panning 3 px right and 1 px down a
frame and zooming in 0.1 % a frame. The same move sampled at 24 fps is the ground truth of the
121 retimed frames, so the bench also reports their PSNR (the in-betweens only) against it.

For each size, in the same run and alternating, ``--repeats`` times:

* ``serial``: ``to_uint8_frames`` of a float32 (1, F, H, W, 3) array (``output_type="np"``),
  then ``write_video`` with one retiming worker: the path before the pool;
* ``pool``: ``to_uint8_frames`` of a float32 (1, F, C, H, W) tensor (``output_type="pt"``; on
  the CPU here, so the conversion is not where a GPU would do it), then ``write_video`` with
  ``--workers`` retiming threads (default: the CPUs, at most 8).

It checks that both write the same bytes, and reports the best and median seconds of each
stage and of the whole tail, with the ratios. ``--presets`` then compares OpenCV's DIS presets
for the morphs (serial seconds, and PSNR of the in-betweens against the true frames) on the
camera move and on the same move with a photographed disc crossing it at 6 and 12 px a frame.
Run from the repository root:

    .venv/bin/python bench/retime.py [--repeats 3] [--workers N] [--sizes 864x480,1248x704]
                                     [--presets]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import cv2
import numpy as np
import torch
from skimage import data as photos

from framecast.core.spec import VideoSpec
from framecast.engines import _flow
from framecast.engines._diffusers import retimed, to_uint8_frames, write_video
from framecast.engines._retime import retime_workers

NATIVE_FRAMES, NATIVE_FPS = 81, 16
OUT_FRAMES, OUT_FPS = 121, 24
PAN_PX = (3.0, 1.0)       # camera drift per native frame, output pixels
ZOOM_PER_FRAME = 0.001


def camera_move(width: int, height: int, positions: np.ndarray) -> list[np.ndarray]:
    """Frames of the camera move at the given positions (in native frames)."""
    photo = np.ascontiguousarray(np.asarray(photos.coffee())[..., :3])
    # room for 80 frames of pan and zoom, then some
    scale = max((width + 300) / photo.shape[1], (height + 120) / photo.shape[0])
    scene = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)),
                       interpolation=cv2.INTER_CUBIC)
    out = []
    for p in positions:
        zoom = 1.0 + ZOOM_PER_FRAME * p
        # output pixel (x, y) shows scene pixel (x0 + x / zoom, y0 + y / zoom)
        x0, y0 = 20 + PAN_PX[0] * p, 20 + PAN_PX[1] * p
        to_output = np.float32([[zoom, 0, -x0 * zoom], [0, zoom, -y0 * zoom]])
        out.append(cv2.warpAffine(scene, to_output, (width, height), flags=cv2.INTER_CUBIC))
    return out


def with_subject(frames: list[np.ndarray], positions: np.ndarray,
                 speed_px: float) -> list[np.ndarray]:
    """The frames with a disc of another photograph (``chelsea``) crossing them left to right
    at ``speed_px`` a native frame, bobbing up and down: motion unlike the camera's, with
    occlusions at its edge."""
    height, width = frames[0].shape[:2]
    radius = height // 4
    sprite = cv2.resize(np.ascontiguousarray(np.asarray(photos.chelsea())[..., :3]),
                        (2 * radius, 2 * radius), interpolation=cv2.INTER_AREA)
    ys, xs = np.mgrid[-radius:radius, -radius:radius]
    disc = ((xs ** 2 + ys ** 2) < radius ** 2).astype(np.float32)
    out = []
    for frame, p in zip(frames, positions, strict=True):
        x, y = width * 0.2 + speed_px * p, height * 0.5 + 3 * speed_px * np.sin(p / 10)
        move = np.float32([[1, 0, x - radius], [0, 1, y - radius]])
        pixels = cv2.warpAffine(sprite, move, (width, height), flags=cv2.INTER_CUBIC)
        alpha = cv2.warpAffine(disc, move, (width, height), flags=cv2.INTER_LINEAR)[..., None]
        out.append(np.clip(np.rint(frame * (1 - alpha) + pixels * alpha), 0, 255)
                   .astype(np.uint8))
    return out


def compare_presets(width: int, height: int) -> None:
    """Serial retime seconds and in-between PSNR per DIS preset, per clip."""
    native_at = np.arange(NATIVE_FRAMES, dtype=np.float64)
    out_at = np.arange(OUT_FRAMES) * (NATIVE_FRAMES - 1) / (OUT_FRAMES - 1)
    clips = {"camera move": (camera_move(width, height, native_at),
                             camera_move(width, height, out_at))}
    for speed in (6.0, 12.0):
        native, truth = clips["camera move"]
        clips[f"+ subject {speed:.0f} px/frame"] = (with_subject(native, native_at, speed),
                                                    with_subject(truth, out_at, speed))
    in_betweens = [i for i in range(OUT_FRAMES) if (i * (NATIVE_FRAMES - 1)) % (OUT_FRAMES - 1)]
    create = cv2.DISOpticalFlow_create
    print(f"\nDIS presets, {width}x{height}, serial (best of 1)")
    print("| clip | preset | retime s | in-betweens PSNR dB (mean / min) |")
    print("|---|---|---|---|")
    for clip, (native, truth) in clips.items():
        for name in ("MEDIUM", "FAST", "ULTRAFAST"):
            preset = getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{name}")
            with mock.patch.object(_flow.cv2, "DISOpticalFlow_create",
                                   lambda _, preset=preset: create(preset)):
                seconds, frames = timed(lambda native=native: list(
                    retimed(native, OUT_FRAMES, workers=1)))
            scores = [psnr(frames[i], truth[i]) for i in in_betweens]
            print(f"| {clip} | {name} | {seconds:.2f} | {statistics.mean(scores):.2f} / "
                  f"{min(scores):.2f} |")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / mse) if mse else float("inf")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = fn()
    return time.perf_counter() - began, result


def cpu_seconds(fn: Callable[[], Any]) -> float:
    """CPU seconds of this process (all its threads) while ``fn`` runs."""
    began = time.process_time()
    fn()
    return time.process_time() - began


def run_size(width: int, height: int, repeats: int, workers: int) -> dict[str, Any]:
    """Both paths on one size; the seconds of each stage per repeat, and the checks."""
    native = camera_move(width, height, np.arange(NATIVE_FRAMES, dtype=np.float64))
    truth = camera_move(width, height, np.arange(OUT_FRAMES) * (NATIVE_FRAMES - 1)
                        / (OUT_FRAMES - 1))
    as_np = (np.stack(native)[None].astype(np.float32) / 255.0)               # (1,F,H,W,3)
    as_pt = torch.from_numpy(as_np).permute(0, 1, 4, 2, 3).contiguous()       # (1,F,C,H,W)
    spec = VideoSpec(model="bench", prompt="", width=width, height=height,
                     frames_total=OUT_FRAMES, fps=OUT_FPS, seed=0)
    times: dict[str, list[float]] = {}
    written: dict[str, bytes] = {}
    paths = {"serial": (as_np, 1), "pool": (as_pt, workers)}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for path, (output, path_workers) in paths.items():
                uint8_s, frames = timed(lambda output=output: to_uint8_frames(output))
                retime_s, _ = timed(lambda frames=frames, w=path_workers: sum(
                    1 for _ in retimed(frames, OUT_FRAMES, workers=w)))
                work = Path(tmp) / path
                work.mkdir(exist_ok=True)
                # write_video retimes again, interleaved with the encoder, as the engine does
                video_s, _ = timed(lambda frames=frames, work=work, w=path_workers: write_video(
                    spec, frames, work, retime_workers=w))
                written[path] = (work / "video.mp4").read_bytes()
                for stage, seconds in (("uint8", uint8_s), ("retime", retime_s),
                                       ("retime+H.264", video_s),
                                       ("tail", uint8_s + video_s)):
                    times.setdefault(f"{path} {stage}", []).append(seconds)
    retimed_frames = list(retimed(native, OUT_FRAMES, workers=workers))
    cpu = {path: cpu_seconds(lambda w=path_workers: list(retimed(native, OUT_FRAMES, workers=w)))
           for path, (_, path_workers) in paths.items()}
    in_betweens = [i for i in range(OUT_FRAMES) if (i * (NATIVE_FRAMES - 1)) % (OUT_FRAMES - 1)]
    return {"times": times, "same_bytes": written["serial"] == written["pool"], "cpu": cpu,
            "psnr_in_betweens_db": statistics.mean(
                psnr(retimed_frames[i], truth[i]) for i in in_betweens),
            "psnr_nearest_db": statistics.mean(
                psnr(native[round(i * (NATIVE_FRAMES - 1) / (OUT_FRAMES - 1))], truth[i])
                for i in in_betweens)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=retime_workers())
    parser.add_argument("--sizes", default="864x480,1248x704")
    parser.add_argument("--opencv-threads", type=int, default=None,
                        help="cv2.setNumThreads first (default: OpenCV's own, the CPUs)")
    parser.add_argument("--presets", action="store_true",
                        help="also compare DIS presets (speed and in-between PSNR)")
    args = parser.parse_args()
    if args.opencv_threads is not None:
        cv2.setNumThreads(args.opencv_threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"cv2 {cv2.__version__} ({cv2.getNumThreads()} threads), torch {torch.__version__}, "
          f"pool: {args.workers} workers, best / median of {args.repeats}, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        result = run_size(width, height, args.repeats, args.workers)
        times = result["times"]
        print(f"\n{width}x{height}, {NATIVE_FRAMES} -> {OUT_FRAMES} frames "
              f"(same bytes: {result['same_bytes']}; in-betweens vs the true 24 fps move: "
              f"{result['psnr_in_betweens_db']:.2f} dB, nearest native frame "
              f"{result['psnr_nearest_db']:.2f} dB)")
        print(f"CPU-seconds of one retime: serial {result['cpu']['serial']:.2f}, "
              f"pool {result['cpu']['pool']:.2f}")
        print("| stage | serial s | pool s | serial / pool |")
        print("|---|---|---|---|")
        for stage in ("uint8", "retime", "retime+H.264", "tail"):
            serial, pool = times[f"serial {stage}"], times[f"pool {stage}"]
            print(f"| {stage} | {min(serial):.2f} (median {statistics.median(serial):.2f}) "
                  f"| {min(pool):.2f} (median {statistics.median(pool):.2f}) "
                  f"| {min(serial) / min(pool):.2f}x |")
        assert result["same_bytes"], "the pool wrote other bytes than the serial path"
        if args.presets:
            compare_presets(width, height)


if __name__ == "__main__":
    main()
