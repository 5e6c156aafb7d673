"""Unit tests for the testcard engine: exact size, same bytes per spec, labels, watermark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from framecast.core.errors import InvalidInput
from framecast.core.spec import ImageInput, ImageSpec, VideoSpec
from framecast.engines.base import Cancelled, EngineInputs, InputImage
from framecast.engines.testcard import (
    PROMPT_MAX_LINES,
    TestcardEngine,
    _wrap,
    card_background,
    render_card,
)


def make_spec(**fields: Any) -> ImageSpec:
    """A resolved image spec (override any field)."""
    values: dict[str, Any] = dict(model="seedream-4-0-250828", prompt="a red fox in the snow",
                                  width=1024, height=768, seed=7, watermark=False)
    values.update(fields)
    return ImageSpec(**values)


def run_card(spec: ImageSpec, work_dir: Path, images: list[InputImage] | None = None,
             cancelled: Any = None) -> tuple[Any, np.ndarray, list[tuple[int, int]]]:
    work_dir.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[int, int]] = []
    outputs = TestcardEngine().run(spec, EngineInputs(images=images or [], work_dir=work_dir),
                                   lambda step, total: steps.append((step, total)),
                                   cancelled or (lambda: False))
    pixels = np.asarray(Image.open(work_dir / "image.png").convert("RGB"))
    return outputs, pixels, steps


@pytest.mark.parametrize(("width", "height"), [(256, 256), (1024, 1024), (2048, 1152),
                                               (432, 992), (4096, 256)])
def test_exact_size(tmp_path: Path, width: int, height: int) -> None:
    outputs, pixels, steps = run_card(make_spec(width=width, height=height), tmp_path)
    assert pixels.shape == (height, width, 3)
    (image,) = outputs.files
    assert (image.name, image.content_type, image.width, image.height) == \
        ("image.png", "image/png", width, height)
    assert outputs.seed == 7 and steps == [(1, 1)]


def test_same_spec_same_bytes_and_seed_changes_the_card(tmp_path: Path) -> None:
    run_card(make_spec(), tmp_path / "a")
    run_card(make_spec(), tmp_path / "b")
    _, other_seed, _ = run_card(make_spec(seed=8), tmp_path / "c")
    a = (tmp_path / "a" / "image.png").read_bytes()
    assert a == (tmp_path / "b" / "image.png").read_bytes()
    assert a != (tmp_path / "c" / "image.png").read_bytes()
    # A different seed is a different background, not just a different number.
    bg7, bg8 = card_background(1024, 768, seed=7), card_background(1024, 768, seed=8)
    assert np.abs(bg7.astype(int) - bg8).mean() > 10
    assert other_seed.shape == (768, 1024, 3)


def test_watermark_marks_only_the_bottom_right(tmp_path: Path) -> None:
    _, plain, _ = run_card(make_spec(watermark=False), tmp_path / "plain")
    _, marked, _ = run_card(make_spec(watermark=True), tmp_path / "marked")
    ys, xs = np.nonzero(np.any(plain != marked, axis=2))
    assert len(ys) > 100
    assert ys.min() > 768 * 3 // 4 and xs.min() > 1024 // 2


def test_labels_are_drawn(tmp_path: Path) -> None:
    card = render_card(1024, 768, prompt="a red fox", model="m1", seed=3)
    background = card_background(1024, 768, seed=3)
    changed = np.any(card != background, axis=2)
    assert changed.mean() > 0.15  # panel, text, colour bars
    # Each label is drawn where it says: changing one changes pixels.
    for other in (dict(prompt="a blue whale"), dict(model="m2"), dict(title="Another")):
        values: dict[str, Any] = dict(prompt="a red fox", model="m1", seed=3)
        values.update(other)
        assert np.any(render_card(1024, 768, **values) != card), other
    # Text sits inside a dark panel: its rows hold bright glyph pixels on a dark ground.
    rows = np.nonzero(changed[: 768 * 9 // 10, 512])[0]  # above the colour bars
    assert len(rows) > 100
    gray = card.mean(axis=2)
    panel_rows = gray[rows.min():rows.max(), 140:880]
    assert (panel_rows > 200).sum() > 2000 and (panel_rows < 60).sum() > 20000


def test_long_prompts_are_wrapped_and_cut() -> None:
    from PIL import ImageFont

    font = ImageFont.load_default(size=20)
    lines = _wrap("word " * 500, font, 400, PROMPT_MAX_LINES)
    assert len(lines) == PROMPT_MAX_LINES and lines[-1].endswith("…")
    assert all(font.getlength(line) <= 400 for line in lines)
    assert _wrap("x" * 300, font, 100, 2)[-1].endswith("…")
    assert _wrap("short", font, 400, 4) == ["short"]
    card = render_card(512, 512, prompt="a very long prompt " * 200, model="m", seed=1)
    assert card.shape == (512, 512, 3)


def test_reference_images_become_thumbnails(tmp_path: Path) -> None:
    reference = Image.new("RGB", (640, 480), (250, 20, 20))
    spec = make_spec(images=[ImageInput(role="reference_image", url="data:")])
    outputs, with_ref, _ = run_card(spec, tmp_path / "ref",
                                    [InputImage("reference_image", reference)])
    _, without, _ = run_card(make_spec(), tmp_path / "none")
    assert outputs.info["references_shown"] == 1
    differs = np.any(with_ref != without, axis=2)
    ys, xs = np.nonzero(differs)
    assert ys.min() > 768 // 2 and xs.min() > 1024 // 2
    assert np.all(with_ref[ys.min() + 5, xs.min() + 5:xs.max() - 5] == (250, 20, 20))


def test_checks_and_cancel(tmp_path: Path) -> None:
    engine = TestcardEngine()
    video = VideoSpec(model="m", prompt="x")
    with pytest.raises(InvalidInput) as wrong_kind:
        engine.check_inputs(video)
    assert wrong_kind.value.param == "model"
    with pytest.raises(InvalidInput):
        engine.check_inputs(make_spec(images=[ImageInput(role="first_frame", url="data:")]))
    with pytest.raises(Cancelled):
        run_card(make_spec(), tmp_path, cancelled=lambda: True)
    assert not (tmp_path / "image.png").exists()


def test_a_set_is_numbered_jpeg_cards_with_their_own_seeds_and_every_reference(
        tmp_path: Path) -> None:
    colours = [(250, 20, 20), (20, 250, 20), (20, 20, 250)] * 5
    references = [Image.new("RGB", (640, 480), c) for c in colours[:14]]
    spec = make_spec(count=3, output_format="jpeg", width=2048, height=1152,
                     images=[ImageInput(role="reference_image", url="data:")] * 14)
    steps: list[tuple[int, int]] = []
    outputs = TestcardEngine().run(
        spec, EngineInputs(images=[InputImage("reference_image", r) for r in references],
                           work_dir=tmp_path),
        lambda step, total: steps.append((step, total)), lambda: False)
    assert [f.name for f in outputs.files] == ["image-1.jpeg", "image-2.jpeg", "image-3.jpeg"]
    assert {f.content_type for f in outputs.files} == {"image/jpeg"}
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert outputs.info["references_shown"] == 14
    cards = []
    for f in outputs.files:
        with Image.open(f.path) as image:
            assert image.format == "JPEG" and image.size == (2048, 1152)
            cards.append(np.asarray(image.convert("RGB"), dtype=np.int16))
    assert np.abs(cards[0] - cards[1]).mean() > 5        # seed and seed + 1 differ
    # all 14 thumbnails are drawn in one row, in order: red, green, blue, red …
    row = cards[0][np.nonzero(np.all(np.abs(cards[0] - (20, 20, 250)) < 40, axis=2))[0]
                   .min() + 3]
    runs = [tuple(px) for px in row[::4] if max(px) > 200 and sorted(px)[1] < 60]
    firsts = [max(range(3), key=lambda c, px=px: px[c]) for px in runs]
    changes = [c for n, c in enumerate(firsts) if n == 0 or c != firsts[n - 1]]
    assert len(changes) == 14
