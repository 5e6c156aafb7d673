"""Pixel sizes, frame counts and usage tokens, exactly as the hosted Seedance/Seedream APIs
report them (research/api-dialects.md §1.7–1.9).

Two size families exist: Seedance 1.0 (lite/pro/pro-fast) uses model-friendly multiples of
16/32, Seedance 1.5 pro and 2.x use "true" aspect sizes. A model's family is configuration
(``size_family`` in the registry).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from framecast.core.errors import InvalidInput

SizeFamily = Literal["seedance-1.0", "seedance-1.5"]
Resolution = Literal["480p", "720p", "1080p"]
Ratio = Literal["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"]

RESOLUTIONS: tuple[str, ...] = get_args(Resolution)
RATIOS: tuple[str, ...] = get_args(Ratio)
SIZE_FAMILIES: tuple[str, ...] = get_args(SizeFamily)

# resolution -> ratio -> (width, height); 9:21 is the transpose of 21:9 (Wiro offers it).
_SEEDANCE_10: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"16:9": (864, 480), "4:3": (736, 544), "1:1": (640, 640), "3:4": (544, 736),
             "9:16": (480, 864), "21:9": (960, 416), "9:21": (416, 960)},
    "720p": {"16:9": (1248, 704), "4:3": (1120, 832), "1:1": (960, 960), "3:4": (832, 1120),
             "9:16": (704, 1248), "21:9": (1504, 640), "9:21": (640, 1504)},
    "1080p": {"16:9": (1920, 1088), "4:3": (1664, 1248), "1:1": (1440, 1440),
              "3:4": (1248, 1664), "9:16": (1088, 1920), "21:9": (2176, 928),
              "9:21": (928, 2176)},
}
_SEEDANCE_15: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"16:9": (864, 496), "4:3": (752, 560), "1:1": (640, 640), "3:4": (560, 752),
             "9:16": (496, 864), "21:9": (992, 432), "9:21": (432, 992)},
    "720p": {"16:9": (1280, 720), "4:3": (1112, 834), "1:1": (960, 960), "3:4": (834, 1112),
             "9:16": (720, 1280), "21:9": (1470, 630), "9:21": (630, 1470)},
    "1080p": {"16:9": (1920, 1080), "4:3": (1664, 1248), "1:1": (1440, 1440),
              "3:4": (1248, 1664), "9:16": (1080, 1920), "21:9": (2206, 946),
              "9:21": (946, 2206)},
}
SIZE_TABLES: dict[str, dict[str, dict[str, tuple[int, int]]]] = {
    "seedance-1.0": _SEEDANCE_10,
    "seedance-1.5": _SEEDANCE_15,
}

# Ratios that `adaptive` may pick (the vendor list; 9:21 only when asked for explicitly).
ADAPTIVE_RATIOS: tuple[str, ...] = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")

FPS_CHOICES: tuple[int, ...] = (24, 16)
DURATION_MIN_S = 2
DURATION_MAX_S = 12            # Seedance 1.0 (and the resellers' own ranges)
DURATION_LONGEST_S = 30        # Seedance 2.5; each model's own range: service/registry.py
AUTO_DURATION = -1             # "the model decides" (Seedance 1.5 and later)
FRAMES_MIN = 29
FRAMES_MAX = 289


def video_size(family: str, resolution: str, ratio: str) -> tuple[int, int]:
    """Return the exact (width, height) for a resolution × ratio in a size family."""
    table = SIZE_TABLES.get(family)
    if table is None:
        raise InvalidInput(f"unknown size family {family!r}", param="size_family")
    if resolution not in table:
        raise InvalidInput(
            f"`resolution` must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}",
            param="resolution")
    if ratio not in table[resolution]:
        raise InvalidInput(
            f"`ratio` must be one of {', '.join((*RATIOS, 'adaptive'))}, got {ratio!r}",
            param="ratio")
    return table[resolution][ratio]


def nearest_ratio(width: int, height: int, choices: tuple[str, ...] = ADAPTIVE_RATIOS) -> str:
    """The listed ratio whose aspect is nearest (in log space) to ``width/height``."""
    import math

    aspect = math.log(width / height)

    def distance(r: str) -> float:
        a, b = (int(x) for x in r.split(":"))
        return abs(math.log(a / b) - aspect)

    return min(choices, key=distance)


def frame_count(*, duration: int | None, frames: int | None, fps: int) -> int:
    """Frames in the output: ``frames`` when given, else ``fps * duration + 1``."""
    if frames is not None:
        check_frames(frames)
        return frames
    if duration is None:
        duration = 5
    return fps * duration + 1


def check_frames(frames: int, param: str = "frames") -> None:
    """``frames`` must be 25 + 4n within [29, 289]."""
    if not FRAMES_MIN <= frames <= FRAMES_MAX or (frames - 25) % 4 != 0:
        raise InvalidInput(
            f"`frames` must satisfy 25+4n within [{FRAMES_MIN}, {FRAMES_MAX}] "
            f"(29, 33, 37, ... 289), got {frames}", param=param)


def check_duration(duration: int, param: str = "duration",
                   low: int = DURATION_MIN_S, high: int = DURATION_MAX_S) -> None:
    """``duration`` is whole seconds within [low, high]."""
    if not low <= duration <= high:
        raise InvalidInput(f"`duration` must be an integer number of seconds in [{low}, {high}], "
                           f"got {duration}", param=param)


def extended_frames(input_seconds: float, frames: int, fps: int) -> tuple[int, int]:
    """An extended video's frames: the input's at ``fps`` (``round(input_s × fps)``), then a
    continuation of ``frames`` whose first frame is the input's last, so it is not repeated;
    (input frames, total)."""
    head = max(1, round(input_seconds * fps))
    return head, head + frames - 1


def video_tokens(width: int, height: int, frames: int, input_seconds: float = 0.0) -> int:
    """Usage tokens of a video: floor(W × H × frames / 1024); with reference videos, the
    vendor's (input_s + output_s) × W × H × 24 / 1024, the input counted at 24 fps."""
    return int(width * height * (frames + input_seconds * 24) // 1024)


def image_tokens(width: int, height: int) -> int:
    """Usage tokens of an image: W × H / 256 (floored)."""
    return width * height // 256


IMAGE_PRESETS: dict[str, tuple[int, int]] = {
    "1K": (1024, 1024), "2K": (2048, 2048), "4K": (4096, 4096),
}
IMAGE_SIDE_MIN = 256
IMAGE_SIDE_MAX = 4096


def parse_image_size(size: str | None, default: str = "1024x1024",
                     param: str = "size") -> tuple[int, int]:
    """Parse an image ``size``: ``WxH`` (each side 256–4096) or a preset ``1K``/``2K``/``4K``."""
    text = (size or default).strip()
    if text.upper() in IMAGE_PRESETS:
        return IMAGE_PRESETS[text.upper()]
    parts = text.lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InvalidInput(f"`size` must be WxH (e.g. 1024x1024) or 1K/2K/4K, got {size!r}",
                           param=param)
    w, h = (int(p) for p in parts)
    for side in (w, h):
        if not IMAGE_SIDE_MIN <= side <= IMAGE_SIDE_MAX:
            raise InvalidInput(f"`size` sides must be within [{IMAGE_SIDE_MIN}, {IMAGE_SIDE_MAX}], "
                               f"got {w}x{h}", param=param)
    if max(w, h) / min(w, h) > 16:
        raise InvalidInput(f"`size` aspect must be within 1/16..16, got {w}x{h}", param=param)
    return w, h


# ---- Seedream 4.x / 5.0: size presets and pixel ranges --------------------------------------
#
# The vendor's image API page (Volcengine 82379/1541523, current revision, one table for the
# 4.0, 4.5 and 5.0-lite tabs, each offering its own presets). An older 4.0 revision, still
# copied by many mirrors, had 2K 16:9 at 2560x1440 and 21:9 at 3024x1296; docs/ark.md says
# why the current table is followed.

PRESET_RATIOS: tuple[str, ...] = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9")
_PRESET_TABLE: dict[str, tuple[tuple[int, int], ...]] = {   # in PRESET_RATIOS order
    "1K": ((1024, 1024), (1152, 864), (864, 1152), (1280, 720), (720, 1280), (1248, 832),
           (832, 1248), (1512, 648)),
    "2K": ((2048, 2048), (2304, 1728), (1728, 2304), (2848, 1600), (1600, 2848), (2496, 1664),
           (1664, 2496), (3136, 1344)),
    "3K": ((3072, 3072), (3456, 2592), (2592, 3456), (4096, 2304), (2304, 4096), (3744, 2496),
           (2496, 3744), (4704, 2016)),
    "4K": ((4096, 4096), (4704, 3520), (3520, 4704), (5504, 3040), (3040, 5504), (4992, 3328),
           (3328, 4992), (6240, 2656)),
}
SEEDREAM_PRESETS: dict[str, dict[str, tuple[int, int]]] = {
    preset: dict(zip(PRESET_RATIOS, sizes, strict=True))
    for preset, sizes in _PRESET_TABLE.items()}
SEEDREAM_MAX_IMAGES = 15          # references + generated images, per request


class ImageFamily:
    """What a Seedream generation accepts as ``size``, and whether it makes image sets."""

    def __init__(self, name: str, presets: tuple[str, ...], min_pixels: int,
                 max_pixels: int = 4096 * 4096, max_aspect: float = 16.0) -> None:
        self.name, self.presets = name, presets
        self.min_pixels, self.max_pixels, self.max_aspect = min_pixels, max_pixels, max_aspect

    def size(self, size: str, *, ratio: str, param: str = "size") -> tuple[int, int]:
        """``size`` (a preset of this family, or ``WxH`` within its pixel and aspect range)
        as pixels; a preset takes the ``ratio`` row of the vendor's table."""
        text = size.strip()
        preset = text.upper()
        if preset in SEEDREAM_PRESETS:
            if preset not in self.presets:
                raise InvalidInput(f"`size` {text!r} is not offered by this model (presets: "
                                   f"{', '.join(self.presets)}, or WxH)", param=param)
            return SEEDREAM_PRESETS[preset][ratio]
        parts = text.lower().replace("*", "x").split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise InvalidInput(f"`size` must be one of {', '.join(self.presets)} or WxH (e.g. "
                               f"2048x2048), got {size!r}", param=param)
        w, h = (int(p) for p in parts)
        if not w or not h or not self.min_pixels <= w * h <= self.max_pixels:
            raise InvalidInput(f"`size` must hold {self.min_pixels:,} to {self.max_pixels:,} "
                               f"pixels (W × H), got {w}x{h}", param=param)
        if max(w, h) / min(w, h) > self.max_aspect:
            raise InvalidInput(f"`size` aspect must be within 1/{self.max_aspect:g}.."
                               f"{self.max_aspect:g}, got {w}x{h}", param=param)
        return w, h


IMAGE_FAMILIES: dict[str, ImageFamily] = {
    "seedream-4.0": ImageFamily("seedream-4.0", ("1K", "2K", "4K"), min_pixels=1280 * 720),
    "seedream-4.5": ImageFamily("seedream-4.5", ("2K", "4K"), min_pixels=2560 * 1440),
    "seedream-5.0": ImageFamily("seedream-5.0", ("2K", "3K", "4K"), min_pixels=2560 * 1440),
}
# "generic": Seedream 3.0, SeedEdit and configured models: WxH 256–4096 a side, square presets
IMAGE_FAMILY_NAMES: tuple[str, ...] = ("generic", *IMAGE_FAMILIES)


def check_image_size_form(size: str, param: str = "size") -> None:
    """A ``size`` that no model takes, whatever its range: neither a preset (``1K``…``4K``)
    nor ``WxH``. Checked before the model is known; the model's own rules come after."""
    text = size.strip()
    if text.upper() in SEEDREAM_PRESETS or re.fullmatch(r"\d{1,6}\s*[xX*]\s*\d{1,6}", text):
        return
    raise InvalidInput(f"`size` must be a preset (1K, 2K, 3K, 4K) or WxH (e.g. 2048x2048), "
                       f"got {size!r}", param=param)


def ratio_in_text(text: str) -> str | None:
    """The first preset aspect ratio a prompt states (``16:9``, ``a 3:2 photo``; ``16/9``
    too), or None: how a Seedream preset size picks its row."""
    for match in _RATIO_IN_TEXT.finditer(text):
        ratio = f"{int(match[1])}:{int(match[2])}"
        if ratio in PRESET_RATIOS:
            return ratio
    return None


_RATIO_IN_TEXT = re.compile(r"(?<![\d.:/])(\d{1,2})\s*[:/]\s*(\d{1,2})(?![\d.:/])")
