"""Benchmark: the borders of a first→last morph between unrelated photographs.

For three pairs of scikit-image's photographs, cover-fitted to 720p (1248×704), the motion
engine's flow morph (``engines/_flow.py``) is compared with the plain cross-fade of the same
two frames, its baseline: for the middle frames (t = 0.35, 0.5, 0.65), the mean absolute
difference from the cross-fade in the outer 64 px band and in the centre. A warp that fetches
past the frame's edge repeats the edge pixel there, which shows as streaks and as a band
further from the cross-fade than the centre. It writes a contact sheet per pair (first frame,
the morph at t = 0.5, last frame; and the same band at 4× for the middle frame's top-left
corner) to ``docs/img/morph-<first>-<last>.jpg``.

Run from the repository root; results are in docs/engines.md:

    .venv/bin/python bench/morph_edges.py
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage import data as photos

from framecast.engines._flow import FlowMorph
from framecast.media.images import fit_cover

W, H = 1248, 704
BAND = 64
PAIRS = [("coffee", "chelsea"), ("astronaut", "rocket"), ("hubble_deep_field", "coffee")]
OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def fitted(name: str) -> np.ndarray:
    pixels = np.asarray(getattr(photos, name)())[..., :3]
    return np.asarray(fit_cover(Image.fromarray(pixels).convert("RGB"), W, H))


def errors(frame: np.ndarray, fade: np.ndarray) -> tuple[float, float]:
    """(outer band, centre) mean absolute difference from the cross-fade."""
    error = np.abs(frame.astype(np.float64) - fade).mean(axis=2)
    band = np.zeros((H, W), bool)
    band[:BAND], band[-BAND:], band[:, :BAND], band[:, -BAND:] = True, True, True, True
    return float(error[band].mean()), float(error[~band].mean())


def sheet(first: np.ndarray, middle: np.ndarray, last: np.ndarray, path: Path) -> None:
    """First, middle and last frame at a third of their size, and the middle frame's
    top-left 160×90 corner at 2×, with labels."""
    small = [Image.fromarray(f).resize((W // 3, H // 3), Image.Resampling.LANCZOS)
             for f in (first, middle, last)]
    corner = Image.fromarray(middle[:90, :160]).resize((320, 180), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (3 * (W // 3) + 320 + 40, H // 3 + 30), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for label, image in zip(("first frame", "morph, t = 0.5", "last frame"), small,
                            strict=True):
        canvas.paste(image, (x, 24))
        draw.text((x + 4, 4), label, fill="black")
        x += image.width + 10
    canvas.paste(corner, (x, 24))
    draw.text((x + 4, 4), "t = 0.5, top-left corner, 2x", fill="black")
    canvas.save(path, quality=85)


def main() -> None:
    """Print the table, write the sheets."""
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print("command: .venv/bin/python bench/morph_edges.py\n")
    print("| pair | t | band vs cross-fade | centre vs cross-fade | band / centre |")
    print("|---|---|---|---|---|")
    OUT.mkdir(parents=True, exist_ok=True)
    for first, last in PAIRS:
        a, b = fitted(first), fitted(last)
        morph = FlowMorph(a, b)
        for t in (0.35, 0.5, 0.65):
            fade = (1 - t) * a.astype(np.float64) + t * b.astype(np.float64)
            band, centre = errors(morph.frame(t), fade)
            print(f"| {first} → {last} | {t} | {band:.1f} | {centre:.1f} | "
                  f"{band / centre:.2f} |")
        sheet(a, np.ascontiguousarray(morph.frame(0.5)[..., :3]), b,
              OUT / f"morph-{first}-{last}.jpg")


if __name__ == "__main__":
    main()
