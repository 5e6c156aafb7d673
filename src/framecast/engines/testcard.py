"""``testcard``: a deterministic, clearly labelled test image on the CPU, with no weights.

For integrating clients without a GPU: the image is exactly the size asked for and says what
it is — "Framecast test card", the prompt, the model id, the seed and the size, and that it
is a placeholder. The background (gradient, shapes, grid, colour bars) comes from the seed,
so different seeds look different and the same spec gives the same bytes. Reference images
sent for image-to-image appear as thumbnails, which shows a client its uploads arrived.

:func:`render_card` is also the start frame of the motion engine's text-to-video clips; its
grid, shapes and bars give the camera something to track.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from framecast.core.errors import InvalidInput
from framecast.core.spec import IMAGE_CONTENT_TYPES, ImageSpec, VideoSpec
from framecast.engines.base import (
    Cancelled,
    CancelledFn,
    Capabilities,
    Engine,
    EngineInputs,
    EngineOutputs,
    OutputFileInfo,
    ProgressFn,
    check_capabilities,
)
from framecast.media.images import fit_cover
from framecast.media.video import save_image

TITLE = "Framecast test card"
IMAGE_NOTE = "Placeholder image from the testcard engine, for integrating clients without a GPU."
PROMPT_MAX_LINES = 4
MAX_THUMBNAILS = 14        # every reference Seedream 4.x takes
# SMPTE-style 75% colour bars: white, yellow, cyan, green, magenta, red, blue.
_BARS = ((191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191),
         (191, 0, 0), (0, 0, 191))
_TEXT = (255, 255, 255)
_TEXT_DIM = (205, 212, 222)


def render_card(width: int, height: int, *, prompt: str, model: str, seed: int,
                title: str = TITLE, note: str = IMAGE_NOTE,
                references: Sequence[Image.Image] = ()) -> np.ndarray:
    """A labelled test card (RGB uint8, ``height``×``width``×3), deterministic per arguments.

    Shows ``title``, the prompt (wrapped, at most ``PROMPT_MAX_LINES`` lines, cut with an
    ellipsis), ``model``, ``seed``, the size and ``note`` over a seeded background; up to
    ``MAX_THUMBNAILS`` ``references`` appear as thumbnails above the colour bars.
    """
    if width < 16 or height < 16:
        raise ValueError(f"a test card needs at least 16×16 pixels, got {width}×{height}")
    card = card_background(width, height, seed=seed)
    bars_top = _draw_bars(card)
    if references:
        _draw_thumbnails(card, references, bottom=bars_top)
    image = Image.fromarray(card)
    _draw_labels(image, bottom=bars_top, title=title, prompt=prompt, note=note,
                 details=f"model {model}  |  seed {seed}  |  {width}x{height}")
    return np.asarray(image, dtype=np.uint8).copy()


def card_background(width: int, height: int, *, seed: int) -> np.ndarray:
    """The seeded background alone: smooth colour field, translucent shapes, a fine grid."""
    rng = np.random.default_rng(seed)
    # A 3×3 field of muted colours, scaled up smoothly, is the gradient.
    field = rng.uniform(40, 170, size=(3, 3, 3)).round().astype(np.uint8)
    card = cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC)
    short = min(width, height)
    overlay = card.copy()
    for _ in range(int(rng.integers(9, 15))):
        color = tuple(int(c) for c in rng.integers(30, 256, size=3))
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.uniform(0.06, 0.22) * short)
        if rng.random() < 0.5:
            cv2.circle(overlay, (cx, cy), size, color, -1, cv2.LINE_AA)
        else:
            angle = rng.uniform(0, np.pi)
            box = cv2.boxPoints(((cx, cy), (size * 2.0, size * 1.2), np.degrees(angle)))
            cv2.fillPoly(overlay, [np.round(box).astype(np.int32)], color, cv2.LINE_AA)
    card = cv2.addWeighted(overlay, 0.55, card, 0.45, 0.0)
    cell = max(8, short // 10)
    grid = card.copy()
    for x in range(cell // 2, width, cell):
        cv2.line(grid, (x, 0), (x, height - 1), (255, 255, 255), 1, cv2.LINE_AA)
    for y in range(cell // 2, height, cell):
        cv2.line(grid, (0, y), (width - 1, y), (255, 255, 255), 1, cv2.LINE_AA)
    return cv2.addWeighted(grid, 0.3, card, 0.7, 0.0)


def _draw_bars(card: np.ndarray) -> int:
    """Colour bars and a grey ramp along the bottom; returns the top row of the strip."""
    height, width = card.shape[:2]
    bar_h = max(4, round(height * 0.06))
    ramp_h = max(2, bar_h // 3)
    top = height - bar_h - ramp_h
    edges = np.linspace(0, width, len(_BARS) + 1).round().astype(int)
    for color, x0, x1 in zip(_BARS, edges[:-1], edges[1:], strict=True):
        card[top:top + bar_h, x0:x1] = color
    ramp = np.linspace(0, 255, width).astype(np.uint8)
    card[top + bar_h:] = ramp[None, :, None]
    return top


def _draw_thumbnails(card: np.ndarray, references: Sequence[Image.Image], *,
                     bottom: int) -> None:
    """Reference images as a right-aligned row of 4:3 thumbnails just above ``bottom``."""
    height, width = card.shape[:2]
    shown = list(references)[:MAX_THUMBNAILS]
    thumb_h = max(8, round(height * 0.12))
    gap = max(2, thumb_h // 10)
    # one row: as large as 4 thumbnails are, smaller when more must fit across the card
    thumb_w = min(thumb_h * 4 // 3, (width - gap * (len(shown) + 1)) // max(1, len(shown)))
    thumb_h = min(thumb_h, thumb_w * 3 // 4)
    if thumb_w < 4 or thumb_h < 3:
        return
    y = bottom - gap - thumb_h
    x = width - gap
    for reference in shown:
        x -= thumb_w
        if x < 0 or y < 0:
            break
        thumb = np.asarray(fit_cover(reference.convert("RGB"), thumb_w, thumb_h))
        card[y:y + thumb_h, x:x + thumb_w] = thumb
        cv2.rectangle(card, (x, y), (x + thumb_w - 1, y + thumb_h - 1), (255, 255, 255), 1)
        x -= gap


def _draw_labels(image: Image.Image, *, bottom: int, title: str, prompt: str, note: str,
                 details: str) -> None:
    """The text panel: title, prompt, details and note, sized to fit above ``bottom``."""
    width, _ = image.size
    margin = max(4, round(min(width, bottom) * 0.05))
    # Keep the panel inside the middle 76% of the width, so a motion clip that pushes in on
    # the card (up to 1.25×) still shows every word.
    side = max(margin, round(width * 0.12))
    panel_w = width - 2 * side
    pad = max(3, margin // 2)
    title_px = max(10, round(min(width * 0.065, bottom * 0.09)))
    while True:
        body_px = max(9, round(title_px * 0.48))
        title_font = ImageFont.load_default(size=title_px)
        body_font = ImageFont.load_default(size=body_px)
        text_w = panel_w - 2 * pad
        prompt_lines = _wrap(prompt.strip() or "(no prompt)", body_font, text_w,
                             PROMPT_MAX_LINES)
        blocks = [(line, title_font, _TEXT) for line in _wrap(title, title_font, text_w, 2)]
        blocks += [(f'"{line}"' if len(prompt_lines) == 1 else line, body_font, _TEXT)
                   for line in prompt_lines]
        blocks += [(line, body_font, _TEXT_DIM) for line in _wrap(details, body_font, text_w, 2)]
        blocks += [(line, body_font, _TEXT_DIM) for line in _wrap(note, body_font, text_w, 3)]
        line_gap = max(1, body_px // 3)
        text_h = sum(_line_height(font) + line_gap for _, font, _ in blocks)
        if text_h + 2 * pad <= bottom - 2 * margin or title_px <= 10:
            break
        title_px = max(10, int(title_px * 0.85))
    panel_h = text_h + 2 * pad
    top = max(0, (bottom - panel_h) // 2)
    draw = ImageDraw.Draw(image, "RGBA")
    draw.rectangle((side, top, side + panel_w, top + panel_h), fill=(12, 16, 24, 185))
    y = top + pad
    for text, font, color in blocks:
        draw.text((side + pad, y), text, font=font, fill=color)
        y += _line_height(font) + line_gap


def _line_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    ascent, descent = font.getmetrics()  # type: ignore[union-attr]
    return int(ascent + descent)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: int,
          max_lines: int) -> list[str]:
    """Greedy word wrap to ``max_width`` pixels; past ``max_lines`` the last line ends in …

    Words wider than a line (URLs, scripts written without spaces) are cut where they
    overflow. The text is first shortened to what could ever fit, so a 10 000-character
    prompt costs no more than a short one.
    """
    em = float(getattr(font, "size", 10))
    most_chars = max_lines * (int(max_width / max(1.0, 0.2 * em)) + 1)
    words = " ".join(text.split())[:most_chars].split(" ")
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while len(lines) <= max_lines and len(word) > 1 and font.getlength(word) > max_width:
            cut = _longest_fitting_prefix(word, font, max_width)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
        if len(lines) > max_lines:
            break
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and font.getlength(last + " …") > max_width:
            last = last[:-1]
        lines = [*lines[:max_lines - 1], last.rstrip() + " …"]
    return lines


def _longest_fitting_prefix(word: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
                            max_width: int) -> int:
    """The length of the longest prefix of ``word`` that fits (at least one character)."""
    low, high = 1, len(word)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(word[:middle]) <= max_width:
            low = middle
        else:
            high = middle - 1
    return low


class TestcardEngine(Engine):
    """Write a labelled, seeded test image of exactly the requested size."""

    __test__ = False  # not a pytest test class, despite the name

    name: ClassVar[str] = "testcard"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"image"}),
        roles=frozenset({"reference_image"}),
        max_reference_images=14,
    )

    def check_inputs(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs | None = None) -> None:
        """Refuse what this engine cannot do, in a user's words."""
        check_capabilities(self.capabilities, spec, engine=self.name)
        assert isinstance(spec, ImageSpec)
        for side, value in (("width", spec.width), ("height", spec.height)):
            if value is not None and value < 16:
                raise InvalidInput(f"image {side} must be at least 16 pixels, got {value}",
                                   param="size")

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Render the spec's image, or each image of its set (numbered, seeds ``seed``,
        ``seed + 1`` …), into the work dir in its output format."""
        self.check_inputs(spec, inputs)
        assert isinstance(spec, ImageSpec)
        if spec.width is None or spec.height is None or spec.seed is None:
            raise InvalidInput("the image spec was not resolved before running (no size or "
                               "seed)", param="size")
        width, height, seed = spec.width, spec.height, spec.seed
        fmt = spec.output_format or "png"

        # 1. Load inputs: reference images only become thumbnails.
        references = inputs.by_role("reference_image")

        # 2. Render each card, then write it in the output format, watermarked when asked.
        files = []
        names = spec.output_names
        for n, name in enumerate(names):
            title = TITLE if len(names) == 1 else f"{TITLE}: image {n + 1} of {len(names)}"
            card = render_card(width, height, prompt=spec.prompt, model=spec.model,
                               seed=seed + n, title=title, references=references)
            if cancelled():
                raise Cancelled()
            path = inputs.work_dir / name
            save_image(card, path, fmt=fmt, watermark=spec.watermark)
            files.append(inputs.published(OutputFileInfo(
                name=name, path=path, content_type=IMAGE_CONTENT_TYPES[fmt], width=width,
                height=height)))
            progress(n + 1, len(names))
        return EngineOutputs(files=files, seed=seed, info={
            "engine": self.name, "references_shown": min(len(references), MAX_THUMBNAILS)})
