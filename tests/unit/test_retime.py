"""Flow retiming on a pool (``engines/_retime.py``): the same frames as one after another,
in order, exactly ``count`` of them, its pool gone on an error or an early close; and the
pipelines' ``"pt"`` output made uint8 on the tensor's device (``to_uint8_frames``)."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from skimage import data as photos

from framecast.core.spec import VideoSpec
from framecast.engines import _retime
from framecast.engines._diffusers import retimed, to_uint8_frames, write_video
from framecast.engines._retime import retime_steps, retimed_frames


def camera_move(count: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """``count`` frames of a slow pan over a photograph: 1.5 px right, 0.5 px down a frame."""
    import cv2

    photo = np.ascontiguousarray(np.asarray(photos.coffee())[..., :3])
    scene = cv2.resize(photo, (width * 2, height * 2), interpolation=cv2.INTER_AREA)
    return [cv2.warpAffine(scene, np.float32([[1, 0, -1.5 * n], [0, 1, -0.5 * n]]),
                           (width, height), flags=cv2.INTER_LINEAR) for n in range(count)]


def serial(frames: list[np.ndarray], count: int) -> list[np.ndarray]:
    return list(retimed_frames(frames, count, workers=1))


class RecordingPool(ThreadPoolExecutor):
    """A thread pool that notes how it was shut down."""

    made: list[RecordingPool] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shutdowns: list[dict[str, Any]] = []
        RecordingPool.made.append(self)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shutdowns.append({"wait": wait, "cancel_futures": cancel_futures})
        super().shutdown(wait=wait, cancel_futures=cancel_futures)


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[RecordingPool]:
    RecordingPool.made = []
    monkeypatch.setattr(_retime, "ThreadPoolExecutor", RecordingPool)
    return RecordingPool.made


def retime_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("retime")]


def test_the_steps_of_16_to_24_fps() -> None:
    steps = retime_steps(81, 121)
    morphs = [s for s in steps if s[1]]
    assert len(morphs) == 80 and all(len(times) == 1 for _, times in morphs)   # one per pair
    assert [k for k, _ in morphs] == list(range(80))
    assert sum(max(1, len(times)) for _, times in steps) == 121
    # three outputs between each pair (17 -> 65) share one morph
    assert [len(times) for _, times in retime_steps(17, 65) if times] == [3] * 16
    assert retime_steps(5, 0) == []
    with pytest.raises(ValueError, match="no frames"):
        retime_steps(0, 3)


@pytest.mark.parametrize(("n", "count"), [(17, 25), (9, 33), (25, 17), (2, 7), (5, 1)])
@pytest.mark.parametrize("workers", [2, 3])
def test_a_pool_gives_exactly_the_serial_frames_in_order(n: int, count: int,
                                                         workers: int) -> None:
    frames = camera_move(n)
    expected = serial(frames, count)
    got = list(retimed_frames(frames, count, workers=workers))
    assert len(got) == len(expected) == count
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    assert np.array_equal(got[0], frames[0])
    if count > 1:
        assert np.array_equal(got[-1], frames[-1])
    assert not retime_threads()                 # the pool is gone once the frames are


def test_the_serial_frames_are_the_morphs_of_the_pair_around_each_output() -> None:
    from framecast.engines._flow import FlowMorph

    frames = camera_move(5)
    out = serial(frames, 9)                     # positions 0, .5, 1, 1.5, ... 4
    for i, frame in enumerate(out):
        k, t = divmod(i, 2)
        want = frames[k] if t == 0 else FlowMorph(frames[k], frames[k + 1]).frame(0.5)
        assert np.array_equal(frame, want)


def test_as_many_frames_is_the_frames_themselves() -> None:
    frames = camera_move(4)
    assert all(a is b for a, b in zip(retimed(frames, 4, workers=2), frames, strict=True))


def test_a_failing_morph_stops_the_pool(pools: list[RecordingPool]) -> None:
    frames = camera_move(9)
    frames[6] = frames[6][:-2]                  # pairs 5 and 6 differ in shape: FlowMorph fails
    out = retimed_frames(frames, 17, workers=2)
    with pytest.raises(ValueError, match="differ in shape"):
        list(out)
    assert len(pools) == 1 and pools[0].shutdowns == [{"wait": True, "cancel_futures": True}]
    assert not retime_threads()


def test_closing_early_drops_the_queued_morphs(pools: list[RecordingPool],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    morph = _retime.morph_frames

    def counted(start: np.ndarray, end: np.ndarray, times: Any) -> list[np.ndarray]:
        started.append(1)
        return morph(start, end, times)

    monkeypatch.setattr(_retime, "morph_frames", counted)
    frames = camera_move(41)
    out = retimed_frames(frames, 61, workers=2)  # 40 morphs
    taken = [next(out) for _ in range(4)]       # a cancel after 4 frames (2 morphs)
    out.close()
    assert len(taken) == 4
    assert pools[0].shutdowns == [{"wait": True, "cancel_futures": True}]
    assert not retime_threads()
    ran = len(started)
    # at most the jobs queued ahead (2 per worker) ran, never the other 36 or so
    assert ran <= 2 + 2 * 2 + 1
    assert len(started) == ran                  # and nothing runs after the close


def test_a_caller_owned_pool_is_left_running() -> None:
    frames = camera_move(9)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="owned") as pool:
        got = list(retimed_frames(frames, 13, executor=pool))
        assert all(np.array_equal(a, b)
                   for a, b in zip(got, serial(frames, 13), strict=True))
        assert pool.submit(int, "7").result() == 7       # still usable


def test_a_process_pool_gives_the_same_frames() -> None:
    frames = camera_move(5)
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        got = list(retimed_frames(frames, 7, executor=pool))
    assert all(np.array_equal(a, b) for a, b in zip(got, serial(frames, 7), strict=True))


def test_write_video_makes_the_same_bytes_on_a_pool(tmp_path: Path) -> None:
    frames = camera_move(9, 64, 48)
    spec = VideoSpec(model="m", prompt="p", width=64, height=48, frames_total=13, fps=24,
                     seed=1)
    files = {}
    for workers in (1, 2):
        work = tmp_path / str(workers)
        work.mkdir()
        [info] = write_video(spec, frames, work, retime_workers=workers)
        assert info.frames == 13
        files[workers] = info.path.read_bytes()
    assert files[1] == files[2]
    assert not retime_threads()


# -- uint8 on the tensor's device ---------------------------------------------------------


def test_pt_output_becomes_the_same_uint8_frames_as_np() -> None:
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(0)
    # the "pt" output of a video pipeline: (batch, frames, channels, height, width) in [0, 1],
    # a little beyond at both ends as a VAE's can be before the processor clamps
    video = torch.rand((1, 5, 3, 6, 10), generator=generator) * 1.2 - 0.1
    before = video.clone()
    as_np = video[0].permute(0, 2, 3, 1).numpy()          # what output_type="np" gives
    frames = to_uint8_frames(video)
    assert len(frames) == 5
    assert all(f.shape == (6, 10, 3) and f.dtype == np.uint8 and f.flags.c_contiguous
               for f in frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, to_uint8_frames(as_np),
                                                      strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(to_uint8_frames(video[0]), frames,
                                                      strict=True))  # (F,C,H,W)
    half = to_uint8_frames(video.to(torch.bfloat16))                  # a bf16 VAE's output
    assert all(np.array_equal(a, b) for a, b in zip(
        half, to_uint8_frames(video.to(torch.bfloat16).float().numpy()), strict=True))
    already = torch.full((1, 2, 3, 4, 4), 7, dtype=torch.uint8)
    assert all((f == 7).all() for f in to_uint8_frames(already))
    grey = to_uint8_frames(torch.ones((1, 2, 1, 4, 4)))
    assert grey[0].shape == (4, 4, 3) and (grey[0] == 255).all()
    assert torch.equal(video, before)                      # the caller's tensor untouched
    with pytest.raises(ValueError, match="unexpected video output shape"):
        to_uint8_frames(torch.zeros((4, 4, 3)))


def test_pt_output_is_scaled_before_it_leaves_its_device(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    moved: list[Any] = []
    original = torch.Tensor.cpu

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        moved.append(self.dtype)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", spy)
    to_uint8_frames(torch.rand((1, 3, 3, 4, 4)))
    assert moved == [torch.uint8]                          # one byte a value crosses
