"""Camera moves for the motion engine: read from a prompt, planned as per-frame transforms.

The camera is a 2D stand-in for a real one: each frame is the canvas (the fitted input at the
output size) seen through a similarity transform, plus a mild homography for orbits. Moves
are described by what the viewer sees the *content* do, which is the opposite of where the
camera goes:

==========================  =================================================================
prompt words                content in frame
==========================  =================================================================
push in, zoom in, dolly in  grows about the centre (scale rises monotonically)
pull back, zoom out, dolly  shrinks; the clip starts cropped in and ends on the whole canvas
out                         (text-to-video only: from a first frame, which the clip starts
                            on exactly, the motion engine does not play it; see motion.py)
pan left / pan right        moves right / left (the camera turns left / right)
truck left / truck right    moves right / left, further than a pan
tilt up / tilt down         moves down / up (the camera turns up / down)
crane up / crane down       moves down / up, further than a tilt, with a slight push in
orbit / arc left, right     turns in depth (a yaw homography about the centre) and drifts
                            right / left; "orbit" alone orbits right
roll left / roll right      turns clockwise / counter-clockwise (the camera rolls the other
                            way)
==========================  =================================================================

"slow", "gentle", "subtle", "slight" before or after a move weaken it; "fast", "quick",
"rapid", "dramatic" strengthen it. "static", "locked-off", "fixed camera", "still camera",
"tripod", "no camera movement" (or ``camera_fixed``) mean no global motion at all.

Several moves play in prompt order, each over an equal share of the clip, eased in and out
(smoothstep), so the camera comes to rest between moves. No frame ever shows a border: the
canvas may carry margins (picture the cover fit cut off), which a move travels into first;
where it would still look past the canvas edge, the frame is zoomed in just enough to stay
covered. The frame at rest is the fitted frame itself, pixel for pixel.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cv2
import numpy as np

# A camera state: log zoom, content shift x and y (fractions of the frame), roll (degrees,
# positive = content turns clockwise on screen), yaw (degrees, for orbits).
_STATE_SIZE = 5
_ZOOM, _SHIFT_X, _SHIFT_Y, _ROLL, _YAW = range(_STATE_SIZE)

# How much each move changes the state at strength 1.0 over its share of the clip.
_MOVE_DELTAS: dict[str, tuple[float, float, float, float, float]] = {
    "push_in": (math.log(1.25), 0.0, 0.0, 0.0, 0.0),
    "zoom_in": (math.log(1.25), 0.0, 0.0, 0.0, 0.0),
    "dolly_in": (math.log(1.20), 0.0, 0.0, 0.0, 0.0),
    "pull_back": (-math.log(1.25), 0.0, 0.0, 0.0, 0.0),
    "zoom_out": (-math.log(1.25), 0.0, 0.0, 0.0, 0.0),
    "dolly_out": (-math.log(1.20), 0.0, 0.0, 0.0, 0.0),
    "pan_left": (0.0, 0.08, 0.0, 0.0, 0.0),
    "pan_right": (0.0, -0.08, 0.0, 0.0, 0.0),
    "truck_left": (0.0, 0.11, 0.0, 0.0, 0.0),
    "truck_right": (0.0, -0.11, 0.0, 0.0, 0.0),
    "tilt_up": (0.0, 0.0, 0.08, 0.0, 0.0),
    "tilt_down": (0.0, 0.0, -0.08, 0.0, 0.0),
    "crane_up": (math.log(1.04), 0.0, 0.11, 0.0, 0.0),
    "crane_down": (math.log(1.04), 0.0, -0.11, 0.0, 0.0),
    "orbit_left": (0.0, 0.03, 0.0, 0.0, -9.0),
    "orbit_right": (0.0, -0.03, 0.0, 0.0, 9.0),
    "roll_left": (0.0, 0.0, 0.0, 6.0, 0.0),
    "roll_right": (0.0, 0.0, 0.0, -6.0, 0.0),
}
CAMERA_MOVES: tuple[str, ...] = tuple(_MOVE_DELTAS)

# Moves a seed may pick when the prompt names none: gentle, all readable in a short clip.
# (No pull back: from a first frame it would need picture from outside it.)
_SEEDED_MOVES: tuple[str, ...] = ("push_in", "pan_left", "pan_right", "tilt_up", "tilt_down",
                                  "orbit_left", "orbit_right", "crane_up")
_SEEDED_STRENGTH = (0.3, 0.6)

_WEAK_STRENGTH = 0.55
_STRONG_STRENGTH = 1.6
_WEAK_WORDS = re.compile(r"\b(slow(ly)?|gentl[ey]|subtl[ey]|slight(ly)?|soft(ly)?)\b")
_STRONG_WORDS = re.compile(r"\b(fast|quick(ly)?|rapid(ly)?|dramatic(ally)?|swift(ly)?)\b")

_STATIC = re.compile(r"\b(static|locked[\s-]?off|(fixed|still|stationary)[\s-]camera|"
                     r"camera[\s-]+(is\s+)?fixed|tripod|no[\s-]camera[\s-](movement|motion))\b")

_S = r"(?:s|es|ing|ed)?"  # verb endings: pans, panning, panned, ...
_SIDE = r"[\s-]+(?:(?:to|towards?)\s+the\s+)?(left|right)\b"
# pattern -> canonical name; "{}" in a name is filled with the captured direction.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), name) for p, name in (
        (rf"\bpush{_S}[\s-]*(?:in|forward)\b", "push_in"),
        (rf"\bpull{_S}[\s-]*(?:back|out|away)\b", "pull_back"),
        (rf"\bzoom{_S}[\s-]*in\b", "zoom_in"),
        (rf"\bzoom{_S}[\s-]*out\b", "zoom_out"),
        (r"\bdoll(?:y|ies|ying)[\s-]*(?:in|forward)\b", "dolly_in"),
        (r"\bdoll(?:y|ies|ying)[\s-]*(?:out|back(?:ward)?)\b", "dolly_out"),
        (rf"\bpan(?:s|ning|ned)?{_SIDE}", "pan_{}"),
        (rf"\b(?:truck|track){_S}{_SIDE}", "truck_{}"),
        (rf"\btilt{_S}[\s-]+(up|down)(?:wards?)?\b", "tilt_{}"),
        (rf"\b(?:crane|boom|jib|pedestal){_S}(?:[\s-]+shot)?[\s-]+(up|down)\b", "crane_{}"),
        (rf"\b(?:orbit|arc){_S}\b(?:[\s-]+(?:shot|around|round)(?:\s+the\s+\w+)?)?(?:{_SIDE})?",
         "orbit_{}"),
        (rf"\broll{_S}{_SIDE}", "roll_{}"),
    ))


@dataclass(frozen=True)
class CameraMove:
    """One camera move: its canonical name (see ``CAMERA_MOVES``) and a strength (1.0 =
    the full move)."""

    name: str
    strength: float = 1.0


def wants_static_camera(prompt: str) -> bool:
    """Whether the prompt asks for a camera that does not move."""
    return _STATIC.search(prompt.lower()) is not None


def parse_camera_moves(prompt: str) -> list[CameraMove]:
    """The camera moves a prompt names, in prompt order (empty when it names none)."""
    text = prompt.lower()
    found: list[tuple[int, int, CameraMove]] = []
    for pattern, name in _PATTERNS:
        for match in pattern.finditer(text):
            side = next((g for g in match.groups() if g), None)
            canonical = name.format(side or "right") if "{}" in name else name
            strength = _strength_near(text, match.start(), match.end())
            found.append((match.start(), match.end(), CameraMove(canonical, strength)))
    found.sort(key=lambda f: (f[0], -f[1]))
    moves: list[CameraMove] = []
    last_end = -1
    for start, end, move in found:
        if start >= last_end:  # a phrase counts once, by its earliest, longest reading
            moves.append(move)
            last_end = end
    return moves


def plan_camera_moves(prompt: str, *, camera_fixed: bool,
                      seed: int) -> tuple[list[CameraMove], str]:
    """The moves to play and where they came from: ``"fixed"`` (no motion), ``"prompt"``, or
    ``"seed"`` (a gentle move picked by ``seed`` because the prompt names none)."""
    if camera_fixed or wants_static_camera(prompt):
        return [], "fixed"
    moves = parse_camera_moves(prompt)
    if moves:
        return moves, "prompt"
    rng = np.random.default_rng(seed)
    name = _SEEDED_MOVES[int(rng.integers(len(_SEEDED_MOVES)))]
    strength = float(rng.uniform(*_SEEDED_STRENGTH))
    return [CameraMove(name, round(strength, 4))], "seed"


def _strength_near(text: str, start: int, end: int) -> float:
    """A move's strength from the adverbs next to it ("slow push in", "pan left quickly")."""
    before = " ".join(text[:start].split()[-3:])
    after = " ".join(text[end:].split()[:2])
    near = f"{before} {after}"
    if _WEAK_WORDS.search(near):
        return _WEAK_STRENGTH
    if _STRONG_WORDS.search(near):
        return _STRONG_STRENGTH
    return 1.0


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class CameraPath:
    """Per-frame transforms of a camera path over ``frames`` frames of ``width``×``height``.

    ``matrix(i)`` maps fitted-frame pixels to output pixels (3×3); ``apply(canvas, i)``
    renders frame ``i`` from a canvas of the output size plus ``margins`` (x, y) on each
    side; ``scales[i]`` is the zoom the viewer sees. A path with no moves is the identity.
    """

    def __init__(self, moves: list[CameraMove], width: int, height: int, frames: int, *,
                 margins: tuple[int, int] = (0, 0)) -> None:
        self.moves = list(moves)
        self.width = width
        self.height = height
        self.frames = frames
        self.margins = margins
        states = self._states(frames)
        self._matrices, cover = _covering_matrices(states, width, height, margins)
        # What the viewer sees: the move's own zoom times the zoom that keeps borders out.
        self.scales = np.exp(states[:, _ZOOM]) * cover
        eye = np.eye(3)
        self._identity = [bool(np.allclose(m, eye, atol=1e-9)) for m in self._matrices]
        self._affine = [abs(m[2, 0]) < 1e-12 and abs(m[2, 1]) < 1e-12 for m in self._matrices]
        from_canvas = np.eye(3)   # margined-canvas pixels -> fitted-frame pixels
        from_canvas[0, 2], from_canvas[1, 2] = -margins[0], -margins[1]
        self._warps = self._matrices @ from_canvas

    def _states(self, frames: int) -> np.ndarray:
        """Camera states per frame: each move eased over its equal share of the clip."""
        states = np.zeros((frames, _STATE_SIZE))
        if not self.moves:
            return states
        t = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
        share = 1.0 / len(self.moves)
        for k, move in enumerate(self.moves):
            progress = _smoothstep((t - k * share) / share)
            states += np.outer(progress, np.asarray(_MOVE_DELTAS[move.name]) * move.strength)
        # A pull back starts where the path is widest-in: the widest frame is the canvas.
        states[:, _ZOOM] -= min(0.0, float(states[:, _ZOOM].min()))
        return states

    def matrix(self, index: int) -> np.ndarray:
        """The 3×3 canvas→output transform of frame ``index``."""
        return self._matrices[index].copy()

    def is_identity(self, index: int) -> bool:
        """Whether frame ``index`` is the canvas itself (no resampling needed)."""
        return self._identity[index]

    def apply(self, canvas: np.ndarray, index: int) -> np.ndarray:
        """Frame ``index`` seen through the camera.

        ``canvas`` is the output size plus ``margins`` on each side (the fitted frame sits at
        their offset). Four-channel canvases warp about twice as fast as three-channel ones
        in OpenCV (its SIMD path), which is why the engine keeps RGBA canvases.
        """
        mx, my = self.margins
        if self._identity[index]:
            return canvas[my:my + self.height, mx:mx + self.width]
        size = (self.width, self.height)
        m = self._warps[index]
        if self._affine[index]:
            return cv2.warpAffine(canvas, m[:2], size, flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
        return cv2.warpPerspective(canvas, m, size, flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)

    def describe(self) -> list[str]:
        """The move names, in order (for the task's info)."""
        return [m.name for m in self.moves]


def _forward_matrices(states: np.ndarray, cover: np.ndarray, width: int,
                      height: int) -> np.ndarray:
    """Canvas→output homographies (N×3×3) for states and extra cover zooms."""
    n = len(states)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    focal = 1.2 * max(width, height)  # a ~45° lens: enough keystone for an orbit to read
    zoom = np.exp(states[:, _ZOOM]) * cover
    roll = np.radians(states[:, _ROLL])
    yaw = np.radians(states[:, _YAW])
    # Yaw about the vertical axis through the centre, K·R·K⁻¹ in centred coordinates, then
    # shifted back so the centre stays put (an orbit keeps its subject in frame).
    cos_y, sin_y = np.cos(yaw), np.sin(yaw)
    yaw_h = np.zeros((n, 3, 3))
    yaw_h[:, 0, 0] = cos_y
    yaw_h[:, 0, 2] = focal * sin_y
    yaw_h[:, 1, 1] = 1.0
    yaw_h[:, 2, 0] = -sin_y / focal
    yaw_h[:, 2, 2] = cos_y
    recentre = np.tile(np.eye(3), (n, 1, 1))
    recentre[:, 0, 2] = -focal * np.tan(yaw)
    cos_r, sin_r = np.cos(roll) * zoom, np.sin(roll) * zoom
    similarity = np.zeros((n, 3, 3))
    similarity[:, 0, 0] = cos_r
    similarity[:, 0, 1] = -sin_r
    similarity[:, 1, 0] = sin_r
    similarity[:, 1, 1] = cos_r
    similarity[:, 0, 2] = cx + states[:, _SHIFT_X] * width
    similarity[:, 1, 2] = cy + states[:, _SHIFT_Y] * height
    similarity[:, 2, 2] = 1.0
    to_centre = np.eye(3)
    to_centre[0, 2], to_centre[1, 2] = -cx, -cy
    m = similarity @ recentre @ yaw_h @ to_centre
    return m / m[:, 2:3, 2:3]


def _covered(matrices: np.ndarray, width: int, height: int,
             margins: tuple[int, int]) -> np.ndarray:
    """Per matrix: whether every output corner comes from inside the canvas (the fitted
    frame plus ``margins`` on each side)."""
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1],
                        [width - 1, height - 1, 1]], dtype=np.float64).T
    source = np.linalg.inv(matrices) @ corners
    x = source[:, 0] / source[:, 2]
    y = source[:, 1] / source[:, 2]
    eps = 1e-6
    mx, my = margins
    inside = ((x >= -mx - eps) & (x <= width - 1 + mx + eps)
              & (y >= -my - eps) & (y <= height - 1 + my + eps))
    return inside.all(axis=1) & (source[:, 2] > 0).all(axis=1)


def _covering_matrices(states: np.ndarray, width: int, height: int,
                       margins: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Forward matrices zoomed in per frame just enough that no border shows, and the extra
    zoom each needed (1.0 where the canvas and its margins already cover the frame).

    Zooming in about the content centre shrinks the window's footprint on the canvas, so
    "covered" is monotonic in the zoom and a vectorised bisection finds the least one.
    """
    n = len(states)
    low = np.ones(n)
    high = np.ones(n)
    ok = _covered(_forward_matrices(states, high, width, height), width, height, margins)
    high[~ok] = 4.0
    for _ in range(40):
        if ok.all():
            break
        mid = (low + high) / 2.0
        fits = _covered(_forward_matrices(states, mid, width, height), width, height, margins)
        high = np.where(ok, high, np.where(fits, mid, high))
        low = np.where(ok, low, np.where(fits, low, mid))
    return _forward_matrices(states, high, width, height), high
