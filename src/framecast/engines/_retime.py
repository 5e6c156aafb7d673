"""Flow retiming of generated video, the morphs computed on several cores at once.

A model's native frames (Wan: 81 at 16 fps) become the spec's (121 at 24 fps): output frame
``i`` sits at source position ``i·(n−1)/(count−1)``; a position on a source frame is that
frame, one between frames ``k`` and ``k+1`` is an in-between from their optical-flow morph
(``FlowMorph``, the motion engine's). Each pair's morph is independent of every other, so
they run in a pool while the caller (the H.264 encoder) takes finished frames in order.

The pool is threads by default: OpenCV and NumPy release the GIL for the work that counts
(DIS flow, remaps, resizes, blends), so threads scale without a spawn or a copy per frame.
Any ``concurrent.futures.Executor`` can be passed instead (a process pool kept by the
caller): the job, :func:`morph_frames`, is a picklable module-level function.

The morphs keep ``FlowMorph``'s DIS ``MEDIUM`` preset (``bench/retime.py --presets``, 81 → 121
frames, one after another): ``FAST`` takes 1.7–1.8 s instead of 2.7–3.3 at 864×480 and
2.2–2.5 instead of 3.2–3.7 at 1248×704, and loses 0.1 dB on a camera pan over a photograph,
but with a photographed disc crossing it at 6 or 12 px a frame its in-betweens are 0.9–1.1 dB
(480p) and 1.6–1.8 dB (720p) further from the true frames; ``ULTRAFAST`` 1.2–2.4 dB.

The output is the same frames, bit for bit, whatever the number of workers: each job runs
exactly the serial code on the same two frames.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import numpy as np

from framecast.engines._flow import FlowMorph

# Morph jobs run this many at most at once. On a 2-core machine two workers retime 81 → 121
# frames of a camera move over a photograph in 2.13 s instead of 3.03 at 864×480, 2.57 instead
# of 3.23 at 1248×704 (bench/retime.py, best of 5): OpenCV already spreads one serial morph
# over about 1.5 cores there; with OpenCV on one thread (--opencv-threads 1) the pool halves
# it, 4.10 → 2.03 s and 5.12 → 2.66 s, which is what a many-core host should see. More than 8
# is unmeasured, and OpenCV and the encoder's 4 frame threads want cores too.
RETIME_MAX_WORKERS = 8
# Finished or running morph jobs held ahead of the frame being consumed, per worker: enough
# to keep every worker busy while the encoder takes one frame, few enough that memory stays
# a handful of frames (each job holds its in-betweens, one frame for 16 → 24 fps).
_JOBS_AHEAD_PER_WORKER = 2

# A step of the output: (k, ()) is source frame k itself; (k, (t, ...)) the in-betweens of
# frames k and k+1 at each t in (0, 1), from one morph.
Step = tuple[int, tuple[float, ...]]


def retime_workers() -> int:
    """The default number of morph workers: the CPUs this process may use, at most
    ``RETIME_MAX_WORKERS``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:    # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(RETIME_MAX_WORKERS, cpus))


def retime_steps(n: int, count: int) -> list[Step]:
    """The ``count`` output frames of ``n`` source frames as steps, in output order; the
    output frames that fall between the same two source frames share one step (one morph)."""
    if n <= 0:
        raise ValueError("no frames to retime")
    steps: list[Step] = []
    for i in range(count):
        position = 0.0 if count == 1 else i * (n - 1) / (count - 1)
        k = min(math.floor(position + 1e-9), n - 1)
        t = position - k
        if t < 1e-6 or k == n - 1:
            steps.append((k, ()))
        elif steps and steps[-1][0] == k and steps[-1][1]:
            steps[-1] = (k, (*steps[-1][1], t))
        else:
            steps.append((k, (t,)))
    return steps


def morph_frames(start: np.ndarray, end: np.ndarray, times: Sequence[float]) -> list[np.ndarray]:
    """The in-betweens of ``start`` and ``end`` at each of ``times``, from one ``FlowMorph``
    (the job a worker runs)."""
    morph = FlowMorph(start, end)
    return [morph.frame(t) for t in times]


def retimed_frames(frames: Sequence[np.ndarray], count: int, *, workers: int | None = None,
                   executor: Executor | None = None) -> Generator[np.ndarray, None, None]:
    """``count`` frames spanning the same time as ``frames``, in order (see the module
    docstring); the morphs run on ``workers`` threads (default :func:`retime_workers`; 1 runs
    them here, one after another) or on ``executor``, which the caller owns (``workers`` then
    sets how many morphs are queued ahead: two each).

    A pool made here is shut down when the iterator ends, fails or is closed early (close it,
    e.g. with ``contextlib.closing``, to stop at once on a cancel): queued morphs are dropped
    and running ones finished.
    """
    n = len(frames)
    if n == 0:
        raise ValueError("no frames to retime")
    if n == count:
        yield from frames
        return
    steps = retime_steps(n, count)
    workers = retime_workers() if workers is None else workers
    if executor is None and workers <= 1:
        for k, times in steps:
            if times:
                yield from morph_frames(frames[k], frames[k + 1], times)
            else:
                yield frames[k]
        return
    yield from _pooled(frames, steps, executor, workers)


def _pooled(frames: Sequence[np.ndarray], steps: list[Step], executor: Executor | None,
            workers: int) -> Iterator[np.ndarray]:
    """The steps' frames in order, their morphs submitted ahead to a pool."""
    pool = executor or ThreadPoolExecutor(max_workers=workers, thread_name_prefix="retime")
    ahead = _JOBS_AHEAD_PER_WORKER * max(1, workers)
    # (k, None) for a source frame, (k, future) for a morph's in-betweens; in output order
    pending: deque[tuple[int, Future[list[np.ndarray]] | None]] = deque()
    queued = 0      # morph jobs in ``pending``
    upcoming = iter(steps)
    try:
        while True:
            while queued < ahead:
                step = next(upcoming, None)
                if step is None:
                    break
                k, times = step
                if times:
                    pending.append((k, pool.submit(morph_frames, frames[k], frames[k + 1],
                                                   times)))
                    queued += 1
                else:
                    pending.append((k, None))
            if not pending:
                return
            k, job = pending.popleft()
            if job is None:
                yield frames[k]
                continue
            queued -= 1
            yield from job.result()
    finally:
        for _, queued_job in pending:
            if queued_job is not None:
                queued_job.cancel()
        if executor is None:
            pool.shutdown(wait=True, cancel_futures=True)
