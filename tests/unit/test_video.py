"""MP4 output: size, frame count, fps, faststart, codec, determinism, audio, watermark, PNGs.

Every assertion is on the written file: atoms parsed from its bytes, streams and frames
decoded back with PyAV.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from framecast.media.video import (
    AudioTrack,
    VideoInfo,
    VideoWriter,
    apply_watermark,
    probe,
    save_png,
)

# -- helpers --------------------------------------------------------------------------------


def _scene(width: int, height: int, count: int, start: int = 0) -> list[np.ndarray]:
    """Smooth, moving color fields: easy to compress, sensitive to dropped or swapped frames."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(start, start + count):
        red = 128 + 90 * np.sin((xx + 6 * i) / 53)
        green = 128 + 90 * np.cos((yy - 4 * i) / 41)
        blue = 128 + 90 * np.sin((xx + yy + 9 * i) / 67)
        frames.append(np.rint(np.dstack([red, green, blue])).astype(np.uint8))
    return frames


def _write(path: Path, frames: list[np.ndarray], fps: int = 24, **options) -> VideoInfo:
    height, width = frames[0].shape[:2]
    with VideoWriter(path, width, height, fps, **options) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.close()


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _top_level_atoms(path: Path) -> list[str]:
    """The MP4's top-level box types in file order."""
    data, atoms, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1:  # 64-bit size follows the type
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        elif size == 0:  # box runs to the end of the file
            size = len(data) - offset
        atoms.append(kind.decode("latin-1"))
        offset += size
    return atoms


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tone(seconds: float, sample_rate: int = 48_000, channels: int = 2) -> AudioTrack:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return AudioTrack(np.tile(wave, (channels, 1)), sample_rate)


def _audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


# -- size, count, rate, container -----------------------------------------------------------

@pytest.mark.parametrize(("width", "height"), [(864, 480), (1112, 834), (834, 1112),
                                               (640, 640), (2206, 946)])
def test_exact_size_is_read_back(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "out.mp4"
    info = _write(path, _scene(width, height, 3))
    probed = probe(path)
    assert (probed.width, probed.height, probed.frames) == (width, height, 3)
    assert (info.width, info.height, info.frames) == (width, height, 3)
    assert _decoded(path)[0].shape == (height, width, 3)


@pytest.mark.parametrize(("frames", "fps"), [(29, 24), (121, 24), (29, 16), (121, 16)])
def test_exact_frame_count_and_declared_fps(tmp_path: Path, frames: int, fps: int) -> None:
    path = tmp_path / "out.mp4"
    info = _write(path, _scene(320, 192, frames), fps=fps)
    probed = probe(path)
    assert probed.frames == info.frames == frames
    assert probed.fps == info.fps == fps
    assert probed.duration_s == pytest.approx(frames / fps, abs=1e-3)
    assert info.duration_s == pytest.approx(frames / fps)
    assert probed.size_bytes == info.size_bytes == path.stat().st_size


def test_frames_arrive_in_order_without_drops_or_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    written = _scene(320, 192, 29)
    _write(path, written)
    decoded = _decoded(path)
    assert len(decoded) == len(written)
    for i, frame in enumerate(decoded):
        # each decoded frame is nearest to the frame written at its index
        errors = [np.abs(frame.astype(np.int16) - w).mean() for w in written]
        assert int(np.argmin(errors)) == i


def test_moov_comes_before_mdat(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    _write(path, _scene(320, 192, 29), audio=_tone(1.0))
    atoms = _top_level_atoms(path)
    assert atoms[0] == "ftyp"
    assert atoms.index("moov") < atoms.index("mdat")


def test_stream_is_h264_yuv420p_tagged_bt601_limited(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    _write(path, _scene(320, 192, 5))
    with av.open(str(path)) as container:
        assert container.format.name.startswith("mov,mp4")
        assert "creation_time" not in container.metadata
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        frame = next(container.decode(stream))
        assert (int(frame.colorspace), int(frame.color_range)) == (5, 1)  # BT.601, limited


def test_decoded_frames_match_written_ones(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    written = _scene(864, 480, 29)
    _write(path, written)
    decoded = _decoded(path)
    assert _psnr(decoded[0], written[0]) > 35
    assert _psnr(decoded[-1], written[-1]) > 35


def test_colors_survive_the_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (20, 20, 20)]
    _write(path, [np.full((192, 320, 3), c, np.uint8) for c in colors])
    for color, frame in zip(colors, _decoded(path), strict=True):
        assert np.abs(frame[96, 160].astype(int) - color).max() <= 6


# -- determinism ----------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{}, {"watermark": True, "audio": _tone(1.5)}])
def test_same_frames_give_identical_bytes(tmp_path: Path, options: dict) -> None:
    frames = _scene(640, 352, 29)
    _write(tmp_path / "a.mp4", frames, **options)
    _write(tmp_path / "b.mp4", frames, **options)
    assert _sha256(tmp_path / "a.mp4") == _sha256(tmp_path / "b.mp4")


def test_different_frames_give_different_bytes(tmp_path: Path) -> None:
    _write(tmp_path / "a.mp4", _scene(320, 192, 29))
    _write(tmp_path / "b.mp4", _scene(320, 192, 29, start=1))
    assert _sha256(tmp_path / "a.mp4") != _sha256(tmp_path / "b.mp4")


# -- audio ----------------------------------------------------------------------------------

def test_no_audio_track_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    assert not _write(path, _scene(320, 192, 29)).has_audio
    assert not probe(path).has_audio


@pytest.mark.parametrize("seconds", [3.0, 0.4])  # longer than the video, and shorter
def test_aac_track_is_cut_or_padded_to_the_video(tmp_path: Path, seconds: float) -> None:
    path = tmp_path / "out.mp4"
    info = _write(path, _scene(320, 192, 29), audio=_tone(seconds))
    assert info.has_audio and probe(path).has_audio
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.streams.audio[0].channels == 2
    assert _audio_seconds(path) == pytest.approx(29 / 24, abs=1024 / 48_000)
    assert probe(path).frames == 29


def test_mono_audio_as_a_flat_array(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    tone = _tone(2.0, sample_rate=44_100, channels=1)
    _write(path, _scene(320, 192, 33), fps=16, audio=AudioTrack(tone.samples[0], 44_100))
    with av.open(str(path)) as container:
        assert container.streams.audio[0].channels == 1
    assert _audio_seconds(path) == pytest.approx(33 / 16, abs=1024 / 44_100)


# -- watermark ------------------------------------------------------------------------------

def _corners(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = frame.shape[:2]
    return frame[: h // 4, : w // 4], frame[-h // 8:, -w // 3:]


def test_watermark_marks_the_bottom_right_only(tmp_path: Path) -> None:
    frames = _scene(864, 480, 5)
    _write(tmp_path / "plain.mp4", frames)
    _write(tmp_path / "marked.mp4", frames, watermark=True)
    plain, marked = _decoded(tmp_path / "plain.mp4")[2], _decoded(tmp_path / "marked.mp4")[2]
    (plain_tl, plain_br), (marked_tl, marked_br) = _corners(plain), _corners(marked)
    assert _psnr(plain_tl, marked_tl) > 45
    assert np.abs(plain_br.astype(int) - marked_br).max() > 100


def test_writer_watermark_equals_apply_watermark(tmp_path: Path) -> None:
    # The writer stamps only the patch of its I420 buffer; that must equal stamping RGB.
    for width, height in [(864, 480), (1112, 834)]:
        frames = _scene(width, height, 3)
        _write(tmp_path / "a.mp4", frames, watermark=True)
        _write(tmp_path / "b.mp4", [apply_watermark(f) for f in frames])
        assert _sha256(tmp_path / "a.mp4") == _sha256(tmp_path / "b.mp4")


@pytest.mark.parametrize("shade", [0, 255])
def test_watermark_reads_on_dark_and_bright_frames(shade: int) -> None:
    frame = np.full((480, 864, 3), shade, np.uint8)
    marked = apply_watermark(frame)
    assert (frame == shade).all()  # the input is untouched
    changed = np.argwhere((marked != frame).any(axis=2))
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    assert top > 480 * 0.85 and left > 864 * 0.7  # bottom-right
    assert bottom < 480 - 5 and right < 864 - 5  # inside a margin
    assert 0.025 * 480 <= bottom - top <= 0.07 * 480  # sized to the short side
    region = marked[top:bottom + 1, left:right + 1].astype(int)
    assert np.abs(region - shade).max() > 120  # light text on black, dark outline on white


def test_watermark_scales_with_the_frame() -> None:
    def mark_height(width: int, height: int) -> int:
        frame = np.zeros((height, width, 3), np.uint8)
        rows = np.argwhere((apply_watermark(frame) != 0).any(axis=2))[:, 0]
        return int(rows.max() - rows.min())

    assert 1.8 < mark_height(1920, 1088) / mark_height(864, 480) < 3.0


def test_watermark_fits_tiny_and_odd_frames(tmp_path: Path) -> None:
    for height, width in [(64, 64), (301, 257)]:
        frame = np.zeros((height, width, 3), np.uint8)
        assert (apply_watermark(frame) != 0).any()
    info = _write(tmp_path / "tiny.mp4", [np.zeros((64, 64, 3), np.uint8)] * 2, watermark=True)
    assert info.frames == probe(tmp_path / "tiny.mp4").frames == 2


# -- PNG ------------------------------------------------------------------------------------

def test_save_png_round_trips_and_is_deterministic(tmp_path: Path) -> None:
    frame = _scene(640, 352, 1)[0]
    save_png(frame, tmp_path / "a.png")
    save_png(frame.copy(), tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), frame)
    save_png(frame, tmp_path / "marked.png", watermark=True)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "marked.png")),
                                  apply_watermark(frame))


# -- misuse and failure ---------------------------------------------------------------------

@pytest.mark.parametrize(("width", "height", "fps", "options"), [
    (863, 480, 24, {}), (864, 481, 24, {}), (0, 480, 24, {}), (864, 480, 0, {}),
    (864, 480, 24, {"preset": "warp"}), (864, 480, 24, {"crf": 60}),
    (864, 480, 24, {"audio": AudioTrack(np.zeros((3, 100), np.float32), 48_000)}),
    (864, 480, 24, {"audio": AudioTrack(np.zeros((2, 100), np.float32), 12_345)}),
])
def test_bad_settings_are_refused_before_a_file_exists(tmp_path: Path, width: int, height: int,
                                                       fps: int, options: dict) -> None:
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "out.mp4", width, height, fps, **options)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("frame", [
    np.zeros((480, 864, 3), np.float32), np.zeros((480, 864), np.uint8),
    np.zeros((480, 864, 4), np.uint8), np.zeros((864, 480, 3), np.uint8),
])
def test_wrong_frames_are_refused(tmp_path: Path, frame: np.ndarray) -> None:
    with VideoWriter(tmp_path / "out.mp4", 864, 480, 24) as writer:
        with pytest.raises(ValueError):
            writer.write(frame)
        writer.write(np.zeros((480, 864, 3), np.uint8))
    assert probe(tmp_path / "out.mp4").frames == 1


def test_an_exception_deletes_the_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="engine broke"), VideoWriter(path, 320, 192, 24) as w:
        for frame in _scene(320, 192, 30):
            w.write(frame)
        assert path.exists()  # packets are in it (the file appears with the first packet)
        raise RuntimeError("engine broke")
    assert not path.exists()


def test_closing_without_frames_fails_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    writer = VideoWriter(path, 320, 192, 24)
    with pytest.raises(ValueError, match="no frames"):
        writer.close()
    assert not path.exists()


def test_close_is_idempotent_and_ends_writing(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    writer = VideoWriter(path, 320, 192, 24)
    writer.write(_scene(320, 192, 1)[0])
    assert writer.close() == writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(_scene(320, 192, 1)[0])
