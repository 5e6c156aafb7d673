"""Input images: the header check of the request path (``probe_image``: nothing decoded),
formats, refusals (each naming its field), color modes, orientation, fitting.

Every image is generated in the test; assertions are on decoded pixels.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from framecast.core.errors import InvalidInput, PayloadTooLarge
from framecast.media.images import (
    ImageLimits,
    decode_image,
    fit_cover,
    fit_last_frame,
    probe_image,
)

PARAM = "content[0].image_url.url"
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


# -- fixtures: images made in memory ---------------------------------------------------------

def _halves(size: tuple[int, int] = (400, 320), left=RED, right=BLUE) -> Image.Image:
    """An RGB image whose left half is ``left`` and right half ``right``."""
    w, h = size
    pixels = np.empty((h, w, 3), np.uint8)
    pixels[:, : w // 2] = left
    pixels[:, w // 2:] = right
    return Image.fromarray(pixels)


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height; its pixel data is a stub."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b""))


def _rgb(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    assert image.mode == "RGB"
    return tuple(int(v) for v in image.getpixel((x, y)))


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


def _refusal(data: bytes, limits: ImageLimits = ImageLimits()) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        decode_image(data, param=PARAM, limits=limits)
    error = caught.value
    assert error.param == PARAM
    assert PARAM in error.message
    return error


# -- formats --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_accepted_formats_decode_to_rgb(fmt: str) -> None:
    image = decode_image(_encode(_halves(), fmt), param=PARAM)
    assert image.mode == "RGB"
    assert image.size == (400, 320)
    assert _close(_rgb(image, 100, 160), RED)
    assert _close(_rgb(image, 300, 160), BLUE)


@pytest.mark.parametrize("data", [b"hello, this is not an image" * 20, b"\x89PNG\r\n\x1a\n"])
def test_non_image_bytes_are_refused(data: bytes) -> None:
    error = _refusal(data)
    assert "not a supported image" in error.message


def test_formats_outside_the_list_are_refused() -> None:
    # PPM is a format Pillow reads; we do not accept it.
    assert "not a supported image" in _refusal(_encode(_halves(), "PPM")).message


def test_empty_bytes_are_refused() -> None:
    assert "empty" in _refusal(b"").message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_refused(fmt: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (320, 400, 3), np.uint8)
    data = _encode(Image.fromarray(noise), fmt)
    error = _refusal(data[: len(data) // 2])
    assert "could not be decoded" in error.message


# -- decompression bombs --------------------------------------------------------------------

@pytest.mark.parametrize(("width", "height", "limits"), [
    (50_000, 50_000, ImageLimits()),  # past 2× Pillow's cap: DecompressionBombError
    (8_000, 6_000, ImageLimits(max_side=10_000)),  # under Pillow's cap, over ours
    # between 1× and 2× Pillow's cap, where Pillow only warns; our cap lifted to reach it
    (10_000, 10_000, ImageLimits(max_pixels=10**9, max_side=10**6)),
])
def test_decompression_bombs_are_refused_quickly(width: int, height: int,
                                                 limits: ImageLimits) -> None:
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a bomb must be a refusal, never a warning
        error = _refusal(_png_claiming(width, height), limits)
    assert "too many pixels" in error.message or "MP" in error.message
    assert error.status == 400
    assert time.perf_counter() - started < 1.0


def test_a_real_highly_compressible_bomb_is_refused_before_decoding() -> None:
    data = _encode(Image.new("1", (6_600, 6_600)), "PNG")  # 43.6 MP in a few kB
    assert len(data) < 200_000
    started = time.perf_counter()
    error = _refusal(data)
    assert "6600x6600" in error.message and "40.0 MP" in error.message
    assert time.perf_counter() - started < 1.0


# -- frames, orientation, color modes -------------------------------------------------------

def test_animated_gif_gives_its_first_frame() -> None:
    frames = [_halves(left=RED, right=BLUE), _halves(left=GREEN, right=WHITE),
              _halves(left=BLUE, right=RED)]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100,
                   loop=0)
    assert Image.open(io.BytesIO(data)).is_animated
    image = decode_image(data, param=PARAM)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(frames[0]))


def test_animated_webp_gives_its_first_frame() -> None:
    frames = [_halves(left=GREEN, right=RED), _halves(left=BLUE, right=BLUE)]
    data = _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    image = decode_image(data, param=PARAM)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(frames[0]))


def test_exif_orientation_is_applied() -> None:
    stored = np.full((320, 400, 3), 128, np.uint8)
    stored[:60, :60] = RED  # top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = _encode(Image.fromarray(stored), "JPEG", exif=exif.tobytes(), quality=95)
    image = decode_image(data, param=PARAM)
    assert image.size == (320, 400)
    assert _close(_rgb(image, 320 - 30, 30), RED)  # stored top-left shows top-right
    assert _close(_rgb(image, 30, 30), (128, 128, 128))


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (400, 320), (0, 255, 255, 0))  # pure red in CMYK
    image = decode_image(_encode(cmyk, "JPEG", quality=95), param=PARAM)
    assert _close(_rgb(image, 200, 160), RED)


def test_rgba_is_composited_over_white() -> None:
    pixels = np.zeros((320, 400, 4), np.uint8)
    pixels[:, :200] = (0, 0, 255, 255)  # opaque blue
    pixels[:, 200:300] = (0, 0, 0, 0)  # transparent: white
    pixels[:, 300:] = (0, 0, 0, 128)  # half-transparent black: mid gray
    image = decode_image(_encode(Image.fromarray(pixels, "RGBA"), "PNG"), param=PARAM)
    assert _rgb(image, 100, 100) == BLUE
    assert _rgb(image, 250, 100) == WHITE
    assert _close(_rgb(image, 350, 100), (127, 127, 127), tol=2)


def test_palette_with_transparency_is_composited_over_white() -> None:
    palette_image = Image.new("P", (400, 320), 1)
    palette_image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 - 2) * 3)
    palette_image.paste(0, (0, 0, 200, 320))  # index 0 is the transparent one
    data = _encode(palette_image, "PNG", transparency=0)
    image = decode_image(data, param=PARAM)
    assert _rgb(image, 100, 100) == WHITE
    assert _rgb(image, 300, 100) == RED


def test_la_l_and_bilevel_become_rgb() -> None:
    la = Image.fromarray(np.dstack([np.full((320, 400), 60, np.uint8),
                                    np.full((320, 400), 255, np.uint8)]), "LA")
    assert _rgb(decode_image(_encode(la, "PNG"), param=PARAM), 5, 5) == (60, 60, 60)
    gray = Image.new("L", (400, 320), 200)
    assert _rgb(decode_image(_encode(gray, "PNG"), param=PARAM), 5, 5) == (200, 200, 200)
    bilevel = Image.new("1", (400, 320), 1)
    assert _rgb(decode_image(_encode(bilevel, "BMP"), param=PARAM), 5, 5) == WHITE


def _gradient16() -> np.ndarray:
    """A 400-wide horizontal ramp over the whole 16-bit range."""
    ramp = np.rint(np.linspace(0, 65535, 400)).astype(np.uint16)
    return np.tile(ramp, (320, 1))


@pytest.mark.parametrize(("mode", "fmt"), [("I;16", "PNG"), ("I;16", "TIFF"),
                                           ("I;16B", "TIFF"), ("I", "TIFF")])
def test_16_bit_grayscale_is_scaled_not_clipped(mode: str, fmt: str) -> None:
    ramp = _gradient16()
    if mode == "I":
        source = Image.fromarray(ramp.astype(np.int32))
    else:
        source = Image.frombytes(mode, (400, 320), ramp.astype(
            ">u2" if mode.endswith("B") else "<u2").tobytes())
    data = _encode(source, fmt)
    assert Image.open(io.BytesIO(data)).mode == mode
    row = np.asarray(decode_image(data, param=PARAM))[0]
    expected = np.rint(ramp[0] / 257).astype(np.int16)
    assert np.abs(row[:, 0].astype(np.int16) - expected).max() <= 1
    assert row[0, 0] == 0 and row[-1, 0] == 255 and 120 <= row[200, 0] <= 135


def test_float_grayscale_in_unit_range_is_scaled() -> None:
    ramp = np.tile(np.linspace(0, 1, 400, dtype=np.float32), (320, 1))
    row = np.asarray(decode_image(_encode(Image.fromarray(ramp), "TIFF"), param=PARAM))[0]
    assert row[0, 0] == 0 and row[-1, 0] == 255 and 120 <= row[200, 0] <= 135


# -- vendor limits --------------------------------------------------------------------------

def test_too_small_is_refused_with_its_size() -> None:
    error = _refusal(_encode(_halves((200, 150)), "PNG"))
    assert error.message == (f"`{PARAM}`: image is 200x150; the short side must be at "
                             "least 300 px")


def test_limits_are_inclusive() -> None:
    assert decode_image(_encode(_halves((300, 300)), "PNG"), param=PARAM).size == (300, 300)
    assert decode_image(_encode(_halves((750, 300)), "PNG"), param=PARAM).size == (750, 300)
    assert decode_image(_encode(_halves((300, 750)), "PNG"), param=PARAM).size == (300, 750)


def test_too_long_side_is_refused_from_the_header() -> None:
    error = _refusal(_png_claiming(6_100, 3_000))
    assert "long side must be at most 6000 px" in error.message


@pytest.mark.parametrize("size", [(1_000, 300), (300, 800)])
def test_bad_aspect_is_refused(size: tuple[int, int]) -> None:
    error = _refusal(_encode(_halves(size), "PNG"))
    assert "width/height must be within [0.4, 2.5]" in error.message


def test_aspect_is_judged_as_displayed() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(_halves((750, 320)), "JPEG", exif=exif.tobytes())  # 2.34 stored
    assert decode_image(data, param=PARAM).size == (320, 750)  # 0.43 shown: still fine
    error = _refusal(data, ImageLimits(min_aspect=0.5))
    assert "320x750" in error.message


def test_too_many_bytes_is_payload_too_large() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        decode_image(b"\0" * (30 * 1024 * 1024 + 1), param=PARAM)
    assert caught.value.param == PARAM and caught.value.status == 413
    assert "31,457,281 bytes; the limit is 30.0 MB" in caught.value.message
    with pytest.raises(PayloadTooLarge):
        decode_image(_encode(_halves(), "BMP"), param=PARAM, limits=ImageLimits(max_bytes=1000))


# -- the header check (probe_image) -----------------------------------------------------------

FORMATS = ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_probe_reads_format_and_size_from_the_header_without_decoding(
        fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _encode(_halves((480, 320)), fmt)
    from PIL import ImageFile

    def no_decoding(self: object) -> None:
        raise AssertionError("probe_image decoded pixels")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    header = probe_image(data, param=PARAM)
    assert (header.format, header.width, header.height) == (fmt.lower(), 480, 320)
    assert header.content_type == f"image/{fmt.lower()}"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_probe_gives_the_size_as_displayed(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = _encode(_halves((750, 320)), fmt, exif=exif.tobytes())
    header = probe_image(data, param=PARAM)
    assert (header.width, header.height) == decode_image(data, param=PARAM).size == (320, 750)
    with pytest.raises(InvalidInput) as caught:
        probe_image(data, param=PARAM, limits=ImageLimits(min_aspect=0.5))
    assert "320x750" in caught.value.message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_probe_passes_a_truncated_file_that_the_worker_refuses(fmt: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (320, 400, 3), np.uint8)
    data = _encode(Image.fromarray(noise), fmt)[:-4000]
    header = probe_image(data, param=PARAM)   # the header is whole: the request is accepted
    assert (header.width, header.height) == (400, 320)
    assert "could not be decoded" in _refusal(data).message   # decoding it fails


@pytest.mark.parametrize(("data", "limits"), [
    (_png_claiming(50_000, 50_000), ImageLimits()),
    (_png_claiming(8_000, 6_000), ImageLimits(max_side=10_000)),
    (_png_claiming(6_100, 3_000), ImageLimits()),
    (b"<html>not an image</html>", ImageLimits()),
    (b"", ImageLimits()),
], ids=["bomb", "over our cap", "long side", "not an image", "empty"])
def test_probe_refuses_what_the_header_shows_as_decoding_would(data: bytes,
                                                                limits: ImageLimits) -> None:
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidInput) as caught:
            probe_image(data, param=PARAM, limits=limits)
    assert caught.value.param == PARAM and PARAM in caught.value.message
    assert time.perf_counter() - started < 1.0
    if data:
        assert caught.value.message.split(";")[0] == _refusal(data, limits).message.split(";")[0]


def test_probe_refuses_small_sizes_and_too_many_bytes() -> None:
    with pytest.raises(InvalidInput) as caught:
        probe_image(_encode(_halves((200, 150)), "PNG"), param=PARAM)
    assert caught.value.message == (f"`{PARAM}`: image is 200x150; the short side must be at "
                                    "least 300 px")
    with pytest.raises(PayloadTooLarge):
        probe_image(_encode(_halves(), "BMP"), param=PARAM, limits=ImageLimits(max_bytes=1000))
    real_bomb = _encode(Image.new("1", (6_600, 6_600)), "PNG")   # 43.6 MP in a few kB
    with pytest.raises(InvalidInput) as caught:
        probe_image(real_bomb, param=PARAM)
    assert "6600x6600" in caught.value.message and "40.0 MP" in caught.value.message


# -- fitting --------------------------------------------------------------------------------

def _stripes() -> Image.Image:
    """1000×500: red | green (the centered 500×500) | blue."""
    pixels = np.empty((500, 1000, 3), np.uint8)
    pixels[:, :250], pixels[:, 250:750], pixels[:, 750:] = RED, GREEN, BLUE
    return Image.fromarray(pixels)


def test_fit_cover_crops_the_center_to_the_exact_size() -> None:
    square = fit_cover(_stripes(), 400, 400)
    assert square.size == (400, 400)
    pixels = np.asarray(square)
    assert (pixels[:, 3:-3] == GREEN).all()  # the red and blue sides are cut away
    wide = fit_cover(_stripes(), 864, 480)  # 1.8 < 2: a little off each side
    assert wide.size == (864, 480)
    assert _rgb(wide, 0, 240)[0] > 200 and _rgb(wide, 863, 240)[2] > 200


def test_fit_cover_crops_top_and_bottom_for_tall_targets() -> None:
    pixels = np.zeros((1000, 600, 3), np.uint8)
    pixels[:100], pixels[100:900], pixels[900:] = RED, GREEN, BLUE
    fitted = fit_cover(Image.fromarray(pixels), 480, 640)  # 600×800 centered: all green
    assert fitted.size == (480, 640)
    assert (np.asarray(fitted)[3:-3] == GREEN).all()


def test_fit_last_frame_crops_to_the_first_frames_aspect_first() -> None:
    pixels = np.full((800, 800, 3), RED, np.uint8)
    pixels[200:600, 200:600] = GREEN
    last = Image.fromarray(pixels)
    # a 2:1 first frame fitted to 640×640 shows its centered half-width square; the last
    # frame cut to 2:1 (800×400) and then to 1:1 shows its centered 400×400: all green
    fitted = fit_last_frame(last, (1000, 500), 640, 640)
    assert fitted.size == (640, 640)
    assert (np.asarray(fitted)[4:-4, 4:-4] == GREEN).all()
    # fitted on its own, the same image keeps its red border
    assert _rgb(fit_cover(last, 640, 640), 5, 5) == RED


def test_fit_last_frame_with_matching_aspects_is_a_cover_fit() -> None:
    last = _stripes()
    np.testing.assert_array_equal(np.asarray(fit_last_frame(last, (2000, 1000), 864, 480)),
                                  np.asarray(fit_cover(last, 864, 480)))
    assert fit_last_frame(last, (1000, 1000), 1112, 834).size == (1112, 834)
