"""In-between frames of two keyframes by dense optical flow, for the motion engine.

The flow is estimated once per pair, both ways, with OpenCV's DIS at a reduced resolution
(long side ``FLOW_LONG_SIDE``) and scaled up; only warping and blending happen per frame.
For a time ``t`` in [0, 1] the flows from ``t`` back to each keyframe are approximated from
the two keyframe flows as in Super SloMo (Jiang et al., 2018):

    F(t→0) = −(1−t)·t·F(0→1) + t²·F(1→0)
    F(t→1) = (1−t)²·F(0→1) − t·(1−t)·F(1→0)

Each keyframe is backward-warped with ``cv2.remap`` and the two are blended with weights
(1−t, t), each scaled by how visible the pixel is in the other keyframe (forward-backward
flow consistency), so content that appears or disappears comes from the keyframe that shows
it. At t = 0 and t = 1 the result is exactly the keyframe.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

FLOW_LONG_SIDE = 512
EDGE_FADE_PX = 64.0   # the flow fades to nothing over this band at the frame's edges
# Blend weights vary slowly; they are worked out on a coarser grid, cheap per frame.
WEIGHT_LONG_SIDE = 160
# Forward-backward mismatch (flow-resolution pixels) at which a pixel counts as half hidden.
_OCCLUSION_SCALE_PX = 1.5
# Visibility never reaches zero, so the blend weights can always be normalised.
_MIN_VISIBILITY = 0.05


@lru_cache(maxsize=4)
def _pixel_grid(width: int, height: int) -> np.ndarray:
    """(x, y) of every pixel as an H×W×2 float32 map; cached, callers must not write to it."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32),
                         np.arange(height, dtype=np.float32))
    grid = np.dstack([xs, ys])
    grid.setflags(write=False)
    return grid


class _NodeUpsampler:
    """Scale a small-grid map of absolute output coordinates up to every output pixel.

    ``cv2.resize`` (bilinear) samples source node ``j`` at output position
    ``(j + 0.5)·scale − 0.5``; small-grid coordinates stored as those positions plus a flow
    therefore come out as each pixel's own position plus the interpolated flow, with no
    full-size grid to add. Beyond the outermost nodes resize clamps, so the one or two
    outermost rows and columns get their missing offset added back.
    """

    def __init__(self, small: tuple[int, int], size: tuple[int, int]) -> None:
        self.size = size
        (small_w, small_h), (width, height) = small, size
        xs = (np.arange(small_w) + 0.5) * (width / small_w) - 0.5
        ys = (np.arange(small_h) + 0.5) * (height / small_h) - 0.5
        self.nodes = np.dstack(np.meshgrid(xs.astype(np.float32), ys.astype(np.float32)))
        self._x_fix = self._edge_offsets(xs, width)
        self._y_fix = self._edge_offsets(ys, height)

    @staticmethod
    def _edge_offsets(nodes: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        full = np.arange(length, dtype=np.float64)
        before = full[full < nodes[0]] - nodes[0]
        after = full[full > nodes[-1]] - nodes[-1]
        return before.astype(np.float32), after.astype(np.float32)

    def coords(self, flow_small: np.ndarray) -> np.ndarray:
        """Absolute sampling coordinates (H×W×2 float32) for a small-grid flow."""
        coords = cv2.resize(self.nodes + flow_small, self.size, interpolation=cv2.INTER_LINEAR)
        (left, right), (top, bottom) = self._x_fix, self._y_fix
        width, height = self.size
        coords[:, :len(left), 0] += left
        coords[:, width - len(right):, 0] += right
        coords[:len(top), :, 1] += top[:, None]
        coords[height - len(bottom):, :, 1] += bottom[:, None]
        return coords


def _edge_fade(small: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """On the small grid (H×W×1): 0 at the frame's edge, rising smoothly to 1 at
    ``EDGE_FADE_PX`` output pixels inside it."""
    width, height = size
    xs = (np.arange(small[0]) + 0.5) * (width / small[0]) - 0.5
    ys = (np.arange(small[1]) + 0.5) * (height / small[1]) - 0.5
    dx = np.minimum(xs, width - 1 - xs)
    dy = np.minimum(ys, height - 1 - ys)
    d = np.clip(np.minimum(dx[None, :], dy[:, None]) / EDGE_FADE_PX, 0.0, 1.0)
    return (d * d * (3.0 - 2.0 * d)).astype(np.float32)[..., None]


def _gray(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    code = cv2.COLOR_RGBA2GRAY if image.shape[2] == 4 else cv2.COLOR_RGB2GRAY
    return cv2.cvtColor(small, code)


def _visibility(flow_ab: np.ndarray, flow_ba: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per pixel of image a: how surely it is visible in image b (1 = consistent flows)."""
    back = cv2.remap(flow_ba, grid + flow_ab, None, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    mismatch = np.linalg.norm(flow_ab + back, axis=2)
    visibility = np.exp(-np.square(mismatch / _OCCLUSION_SCALE_PX))
    return np.maximum(visibility, _MIN_VISIBILITY).astype(np.float32)


class FlowMorph:
    """Frames between ``start`` and ``end`` (same size, RGB or RGBA uint8) by optical flow.

    ``frame(t)`` gives the in-between at ``t`` in [0, 1]; ``frame(0)`` is ``start`` and
    ``frame(1)`` is ``end``, exactly.
    """

    def __init__(self, start: np.ndarray, end: np.ndarray, *,
                 flow_long_side: int = FLOW_LONG_SIDE) -> None:
        if start.shape != end.shape:
            raise ValueError(f"keyframes differ in shape: {start.shape} vs {end.shape}")
        self.start = start
        self.end = end
        height, width = start.shape[:2]
        self._size = (width, height)
        scale = min(1.0, flow_long_side / max(width, height))
        small = (max(8, round(width * scale)), max(8, round(height * scale)))
        gray_start, gray_end = _gray(start, small), _gray(end, small)
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow_01 = dis.calc(gray_start, gray_end, None)
        flow_10 = dis.calc(gray_end, gray_start, None)
        small_grid = _pixel_grid(*small)
        visible_0in1 = _visibility(flow_01, flow_10, small_grid)
        visible_1in0 = _visibility(flow_10, flow_01, small_grid)
        # Flows stay on the small grid but are measured in output pixels from here on.
        to_output = np.array([width / small[0], height / small[1]], dtype=np.float32)
        # … and fade to nothing at the frame's edges: an edge pixel's flow points past the
        # frame (what it would fetch is not in either keyframe), and a warp that fetches there
        # repeats the edge pixel into a streak; the edges cross-fade instead
        fade = _edge_fade(small, (width, height))
        self._flow_01 = flow_01 * to_output * fade
        self._flow_10 = flow_10 * to_output * fade
        self._upsampler = _NodeUpsampler(small, self._size)
        # The same, shrunk to the weight grid.
        weight_scale = min(1.0, WEIGHT_LONG_SIDE / max(small))
        coarse = (max(4, round(small[0] * weight_scale)), max(4, round(small[1] * weight_scale)))
        self._coarse_grid = _pixel_grid(*coarse)
        self._output_to_coarse = np.array([coarse[0] / width, coarse[1] / height],
                                          dtype=np.float32)

        def shrink(field: np.ndarray) -> np.ndarray:
            return cv2.resize(field, coarse, interpolation=cv2.INTER_AREA)

        self._coarse_visible_0in1 = shrink(visible_0in1)
        self._coarse_visible_1in0 = shrink(visible_1in0)
        self._coarse_flow_01 = shrink(self._flow_01)
        self._coarse_flow_10 = shrink(self._flow_10)

    def frame(self, t: float) -> np.ndarray:
        """The in-between frame at ``t`` (clamped to [0, 1])."""
        t = min(max(float(t), 0.0), 1.0)
        if t == 0.0:
            return self.start
        if t == 1.0:
            return self.end
        a0, b0 = -(1 - t) * t, t * t  # F(t→0) = a0·F(0→1) + b0·F(1→0)
        a1, b1 = (1 - t) ** 2, -t * (1 - t)  # F(t→1) = a1·F(0→1) + b1·F(1→0)
        flow_t0 = cv2.addWeighted(self._flow_01, a0, self._flow_10, b0, 0.0)
        flow_t1 = cv2.addWeighted(self._flow_01, a1, self._flow_10, b1, 0.0)
        warped_0 = self._warp(self.start, flow_t0)
        warped_1 = self._warp(self.end, flow_t1)
        # Where the target's content is hidden in one keyframe, lean on the other.
        visible_in_0 = self._sample_coarse(self._coarse_visible_1in0, a1, b1)
        visible_in_1 = self._sample_coarse(self._coarse_visible_0in1, a0, b0)
        # blendLinear divides by the weights' sum itself.
        weight_0 = cv2.resize((1 - t) * visible_in_0, self._size, interpolation=cv2.INTER_LINEAR)
        weight_1 = cv2.resize(t * visible_in_1, self._size, interpolation=cv2.INTER_LINEAR)
        return cv2.blendLinear(warped_0, warped_1, weight_0, weight_1)

    def _sample_coarse(self, field: np.ndarray, a: float, b: float) -> np.ndarray:
        """Sample a coarse-grid field where the flow ``a·F(0→1) + b·F(1→0)`` points."""
        flow = cv2.addWeighted(self._coarse_flow_01, a, self._coarse_flow_10, b, 0.0)
        coords = self._coarse_grid + flow * self._output_to_coarse
        return cv2.remap(field, coords, None, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)

    def _warp(self, image: np.ndarray, flow_small: np.ndarray) -> np.ndarray:
        """Backward-warp a full-size image by a small-grid flow scaled up to full size."""
        coords = self._upsampler.coords(flow_small)
        return cv2.remap(image, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
