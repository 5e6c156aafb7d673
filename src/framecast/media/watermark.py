"""The "AI generated" mark, stamped bottom-right on output frames.

The mark is rendered once per frame size with Pillow's built-in font (no font files to
ship) into a small premultiplied RGBA patch; stamping a frame is then a numpy blend of that
patch, so a 1080p video pays a few hundred microseconds per frame, not a full-frame Pillow
round trip. Light text over a dark outline reads on bright and dark footage alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WATERMARK_TEXT = "AI generated"
FONT_FRACTION = 0.04  # font size (em) per short side; capitals come out ~3% of it
MARGIN_FRACTION = 0.025  # gap to the right and bottom edges per short side
MIN_FONT_PX = 10
TEXT_RGB = (245, 245, 245)
TEXT_OPACITY = 0.85
OUTLINE_OPACITY = 0.6


@dataclass(frozen=True)
class Overlay:
    """A rendered mark for one frame size: ``out = color + region × keep`` at (x, y).

    ``color`` is premultiplied by the mark's alpha and ``keep`` is ``1 − alpha``; ``x``,
    ``y`` and the patch's sides are even, so the patch covers whole 2×2 chroma blocks of a
    yuv420p frame.
    """

    x: int
    y: int
    color: np.ndarray  # (h, w, 3) float32
    keep: np.ndarray  # (h, w, 1) float32

    @property
    def height(self) -> int:
        return self.color.shape[0]

    @property
    def width(self) -> int:
        return self.color.shape[1]

    def blend(self, region: np.ndarray) -> np.ndarray:
        """Return the stamped pixels of ``region`` (the frame under the patch), as uint8."""
        mixed = self.color + region.astype(np.float32) * self.keep
        return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)

    def stamp(self, frame: np.ndarray) -> np.ndarray:
        """Return a copy of an RGB ``frame`` with the mark blended in."""
        out = frame.copy()
        rows, cols = slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)
        out[rows, cols] = self.blend(frame[rows, cols])
        return out


@lru_cache(maxsize=32)
def overlay_for(width: int, height: int) -> Overlay:
    """The mark for a width×height frame, sized to its short side (cached per size)."""
    short = min(width, height)
    font_px = max(MIN_FONT_PX, round(short * FONT_FRACTION))
    stroke = max(1, round(font_px * 0.08))
    font = ImageFont.load_default(size=font_px)
    left, top, right, bottom = font.getbbox(WATERMARK_TEXT, stroke_width=stroke)
    # Even sides (and even x, y below) keep the patch aligned to yuv420p chroma blocks.
    patch_w, patch_h = _even_up(right - left), _even_up(bottom - top)

    def mask(**stroke_args: object) -> np.ndarray:
        canvas = Image.new("L", (patch_w, patch_h), 0)
        ImageDraw.Draw(canvas).text((-left, -top), WATERMARK_TEXT, font=font, fill=255,
                                    **stroke_args)
        return np.asarray(canvas, np.float32)[..., None] / 255.0

    text_alpha = mask() * TEXT_OPACITY
    outline_alpha = mask(stroke_width=stroke, stroke_fill=255) * OUTLINE_OPACITY
    # Light text over a black outline: the outline adds coverage but no color.
    alpha = text_alpha + outline_alpha * (1.0 - text_alpha)
    color = text_alpha * np.asarray(TEXT_RGB, np.float32)

    margin = round(short * MARGIN_FRACTION)
    x = max(0, (width - margin - patch_w) // 2 * 2)
    y = max(0, (height - margin - patch_h) // 2 * 2)
    # A frame too small for the whole mark gets what fits rather than an error.
    color, alpha = color[: height - y, : width - x], alpha[: height - y, : width - x]
    for array in (color, alpha):
        array.flags.writeable = False
    keep = 1.0 - alpha
    keep.flags.writeable = False
    return Overlay(x=x, y=y, color=color, keep=keep)


def _even_up(n: int) -> int:
    return n + (n % 2)
