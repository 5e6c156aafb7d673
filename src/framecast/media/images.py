"""Checking, decoding and fitting input images with Pillow.

Input images are untrusted bytes (fetched URLs, ``data:`` URIs), met by Pillow in two places.
On the request path, :func:`probe_image` reads the header only: format, size, EXIF
orientation, the pixel cap (decompression bombs), side and aspect limits. Nothing is decoded,
so a create costs the same for any image, and the bytes are stored as sent. In the worker,
before the engine runs, :func:`decode_image` decodes them: only the formats we accept, the
first frame of an animation, the EXIF orientation applied, a plain RGB image out. Every
refusal is an :class:`~framecast.core.errors.InvalidInput` naming the request field, never a
Pillow exception (research/reliability-security.md §3.6).

:func:`fit_cover` and :func:`fit_last_frame` then frame the images to the exact video size
(design.md §6: the first frame is cover-cropped, a last frame is first cropped to the first
frame's aspect so that both frame the scene alike).
"""

from __future__ import annotations

import contextlib
import io
import math
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from framecast.core.errors import InvalidInput, PayloadTooLarge

# Pillow keeps shipping format-specific CVEs (FITS, PSD, ...); open only what users send.
IMAGE_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")

_WHITE = (255, 255, 255)
# Modes that carry an alpha channel (or a transparency key) and are composited over white.
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# Exceptions Pillow raises on corrupt, truncated or unsupported files.
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


@dataclass(frozen=True)
class ImageLimits:
    """Vendor limits on input images, configurable.

    ``min_side``/``max_side`` bound both sides inclusively: a 300×300 image passes, 299 does
    not. ``min_aspect``/``max_aspect`` bound width/height (as displayed, after EXIF
    orientation). ``max_pixels`` is the decompression-bomb cap, checked from the header before
    decoding; Pillow's own cap (``Image.MAX_IMAGE_PIXELS``, ~89 MP) also applies.
    """

    max_bytes: int = 30 * 1024 * 1024
    min_side: int = 300
    max_side: int = 6000
    min_aspect: float = 0.4
    max_aspect: float = 2.5
    max_pixels: int = 40_000_000


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says, read without decoding a pixel."""

    format: str   # "jpeg", "png", "webp", "bmp", "tiff", "gif"
    width: int    # as displayed: after the EXIF orientation
    height: int

    @property
    def content_type(self) -> str:
        """The image's media type (``image/jpeg`` …)."""
        return f"image/{self.format}"


# EXIF orientations that swap width and height (transposed and rotated by 90 or 270 degrees)
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112


@contextlib.contextmanager
def _opened(data: bytes, param: str, limits: ImageLimits, corrupt: str) -> Iterator[Image.Image]:
    """Open ``data`` with Pillow, the header within the pixel cap and side limits, and turn
    every Pillow failure inside the block into ``InvalidInput`` naming ``param`` (``corrupt``
    says what went wrong with a file Pillow could not read)."""
    try:
        # Pillow only warns between 1× and 2× MAX_IMAGE_PIXELS; make that a refusal too.
        # catch_warnings scopes the filter to this block, but the filter list is
        # process-wide and decodes run in threads, so the filter is not what we rely on:
        # the header check below caps at or under Pillow's limit, race or no race.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as im:
                _check_header(im.size, param, limits)
                yield im
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise InvalidInput(
            f"`{param}`: image has too many pixels; the limit is "
            f"{_pixel_cap(limits) / 1e6:.1f} MP", param=param) from e
    except UnidentifiedImageError as e:
        raise InvalidInput(
            f"`{param}`: not a supported image; use one of {', '.join(IMAGE_FORMATS)}",
            param=param) from e
    except _PIL_ERRORS as e:
        raise InvalidInput(f"`{param}`: {corrupt} ({e})", param=param) from e


def probe_image(data: bytes, *, param: str, limits: ImageLimits = ImageLimits()) -> ImageHeader:
    """Check untrusted bytes from their header alone, or raise ``InvalidInput(param=...)``:
    a supported format, within the pixel cap (before any pixel is decoded), the side limits,
    and the aspect limits as displayed. ``PayloadTooLarge`` when ``data`` is over
    ``limits.max_bytes``. Costs well under a millisecond whatever the image's size.

    A file whose header is sound but whose pixels are not (a truncated JPEG) passes here;
    ``decode_image`` refuses it in the worker, and the task fails naming the field."""
    _check_bytes(data, param, limits)
    with _opened(data, param, limits, "image header could not be read; it is corrupt or "
                                      "unsupported") as im:
        width, height = im.size
        orientation = _header_orientation(im)
        image_format = (im.format or "").lower()
    # Pillow's TIFF plugin already reports a TIFF's size as displayed
    if orientation in _SWAPPING_ORIENTATIONS and image_format != "tiff":
        width, height = height, width
    _check_aspect((width, height), param, limits)
    return ImageHeader(image_format, width, height)


def _header_orientation(im: Image.Image) -> int:
    """The EXIF orientation from what opening the file already read (1 when there is none
    or it is broken). Pillow's PNG ``getexif`` decodes the whole image to look for an eXIf
    chunk after the pixels, so for PNG only a chunk before them counts."""
    try:
        if im.format == "PNG":
            raw = im.info.get("exif")
            exif = Image.Exif()
            if raw:
                exif.load(raw)
        else:
            exif = im.getexif()
        return int(exif.get(_ORIENTATION_TAG, 1))
    except (SyntaxError, ValueError, OSError, KeyError, IndexError, TypeError, struct.error):
        return 1


def _check_bytes(data: bytes, param: str, limits: ImageLimits) -> None:
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(
            f"`{param}`: image is {len(data):,} bytes; the limit is "
            f"{_megabytes(limits.max_bytes)}", param=param)
    if not data:
        raise InvalidInput(f"`{param}`: image is empty", param=param)


def decode_image(data: bytes, *, param: str, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """Decode untrusted bytes into an RGB image, or raise ``InvalidInput(param=...)``.

    Accepts JPEG, PNG, WebP, BMP, TIFF and GIF; an animated image gives its first frame.
    Raises ``PayloadTooLarge`` when ``data`` is over ``limits.max_bytes`` and ``InvalidInput``
    for anything that is not a whole image within the limits.
    """
    _check_bytes(data, param, limits)
    with _opened(data, param, limits, "image could not be decoded; it is corrupt, truncated "
                                      "or unsupported") as im:
        # `is_animated` stops at the second frame; `n_frames` would walk them all.
        if getattr(im, "is_animated", False):
            im.seek(0)
        im.load()
        image = _to_rgb(_oriented(im))
    _check_aspect(image.size, param, limits)
    return image


def encode_png(image: Image.Image) -> bytes:
    """Re-encode a decoded image as PNG (strips metadata); same pixels give the same bytes."""
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if image.mode in _ALPHA_MODES else "RGB")
    # A fresh image has an empty `info`: Pillow's PNG writer would otherwise copy the ICC
    # profile and transparency key from it, and a caller's EXIF could ride along.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    buffer = io.BytesIO()
    clean.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def fit_cover(image: Image.Image, width: int, height: int) -> Image.Image:
    """Cover-crop (centered) and resize to exactly width×height.

    The largest centered box with the target aspect is cut from ``image`` and resampled with
    Lanczos; the box keeps fractional edges, so the crop is centered to the sub-pixel.
    """
    _check_target(width, height)
    box = _centered_box((0.0, 0.0, *map(float, image.size)), width / height)
    return image.resize((width, height), Image.Resampling.LANCZOS, box=box)


def fit_cover_with_margins(image: Image.Image, width: int, height: int, *,
                           max_margin: float = 0.25) -> tuple[Image.Image, tuple[int, int]]:
    """The cover fit plus the picture the crop cut off, at the same scale: ``(canvas, (mx,
    my))``.

    ``canvas`` is ``width + 2·mx`` × ``height + 2·my`` and its centre, at ``(mx, my)``, is
    :func:`fit_cover`'s result pixel for pixel. The margins are whole output pixels of the
    source beyond the crop (a 4:3 photo in a 16:9 frame has them above and below), at most
    ``max_margin`` of the side; a side the crop did not cut has none.
    """
    _check_target(width, height)
    fitted = fit_cover(image, width, height)
    x0, y0, x1, y1 = _centered_box((0.0, 0.0, *map(float, image.size)), width / height)
    scale = width / (x1 - x0)                    # output pixels per source pixel
    mx = min(math.floor(x0 * scale + 1e-6), int(width * max_margin))
    my = min(math.floor(y0 * scale + 1e-6), int(height * max_margin))
    if mx <= 0 and my <= 0:
        return fitted, (0, 0)
    mx, my = max(mx, 0), max(my, 0)
    box = (x0 - mx / scale, y0 - my / scale, x1 + mx / scale, y1 + my / scale)
    canvas = image.resize((width + 2 * mx, height + 2 * my), Image.Resampling.LANCZOS,
                          box=tuple(min(max(v, 0.0), float(side)) for v, side in
                                    zip(box, (*image.size, *image.size), strict=True)))
    # Same scale and phase as the fit, but Pillow's fixed-point taps can differ by a level or
    # two near half-pixel centres; the centre is pasted so frame 0 is the fit exactly.
    canvas.paste(fitted, (mx, my))
    return canvas, (mx, my)


def fit_last_frame(last: Image.Image, first_size: tuple[int, int], width: int,
                   height: int) -> Image.Image:
    """Crop ``last`` to the aspect of the first frame, then size it to width×height.

    ``first_size`` is the first frame's original (decoded) size. ``last`` is first cut
    (centered) to that aspect, as if it had been shot like the first frame, and then gets
    the same cover-crop to width×height that :func:`fit_cover` gave the first frame, so the
    two frames show the scene at the same framing.
    """
    _check_target(width, height)
    first_w, first_h = first_size
    if first_w <= 0 or first_h <= 0:
        raise ValueError(f"first_size must be positive, got {first_size}")
    full = (0.0, 0.0, *map(float, last.size))
    as_first = _centered_box(full, first_w / first_h)
    box = _centered_box(as_first, width / height)
    return last.resize((width, height), Image.Resampling.LANCZOS, box=box)


def _check_header(size: tuple[int, int], param: str, limits: ImageLimits) -> None:
    """Refuse from the header alone: pixel count first (the bomb cap), then side lengths.

    Side limits do not depend on EXIF orientation, so they can run before decoding.
    """
    w, h = size
    cap = _pixel_cap(limits)
    if w * h > cap:
        raise InvalidInput(
            f"`{param}`: image is {w}x{h} ({w * h / 1e6:.1f} MP); the limit is "
            f"{cap / 1e6:.1f} MP", param=param)
    if min(w, h) < limits.min_side:
        raise InvalidInput(
            f"`{param}`: image is {w}x{h}; the short side must be at least "
            f"{limits.min_side} px", param=param)
    if max(w, h) > limits.max_side:
        raise InvalidInput(
            f"`{param}`: image is {w}x{h}; the long side must be at most "
            f"{limits.max_side} px", param=param)


def _check_aspect(size: tuple[int, int], param: str, limits: ImageLimits) -> None:
    """Width/height as displayed (after orientation) must lie within the vendor's range."""
    w, h = size
    if not limits.min_aspect <= w / h <= limits.max_aspect:
        raise InvalidInput(
            f"`{param}`: image is {w}x{h} (aspect {w / h:.2f}); width/height must be within "
            f"[{limits.min_aspect:g}, {limits.max_aspect:g}]", param=param)


def _pixel_cap(limits: ImageLimits) -> int:
    """Our cap, never above the point where Pillow starts warning."""
    return min(limits.max_pixels, Image.MAX_IMAGE_PIXELS or limits.max_pixels)


def _oriented(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block leaves the image as stored.

    Refusing a photo because its metadata is malformed would be harsher than showing it
    unrotated, and the pixels themselves decoded fine.
    """
    try:
        return ImageOps.exif_transpose(im)
    except (SyntaxError, ValueError, OSError, KeyError, IndexError, TypeError, struct.error):
        return im


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any decoded mode to 8-bit RGB, compositing transparency over white."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I") or mode == "F":
        # Pillow's own I;16 → L conversion clips everything above 255 to white. (A 16-bit
        # tRNS key, which is rare, is dropped: it names a 16-bit level we no longer have.)
        return Image.fromarray(_gray_to_8bit(mode, np.asarray(im))).convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in im.info:
        # P/L/RGB with a tRNS key become RGBA here, which is how the key turns into alpha.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return im.convert("RGB")
    except ValueError as e:
        raise ValueError(f"unsupported color mode {mode}") from e


def _gray_to_8bit(mode: str, pixels: np.ndarray) -> np.ndarray:
    """Scale high-depth grayscale to 0..255.

    Integer modes are 16-bit data (Pillow opens 16-bit PNG/TIFF as I;16 or I). Float data
    has no declared range, so it is read as 0..1, 0..255 or 0..65535 by its maximum.
    """
    values = pixels.astype(np.float64)
    if mode == "F":
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(values.max(initial=0.0))
        scale = 255.0 if peak <= 1.0 else 1.0 if peak <= 255.0 else 255.0 / 65535.0
    else:
        scale = 255.0 / 65535.0
    return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)


def _centered_box(within: tuple[float, float, float, float],
                  aspect: float) -> tuple[float, float, float, float]:
    """The largest box of ``aspect`` (w/h) centered in the box ``within``."""
    left, top, right, bottom = within
    w, h = right - left, bottom - top
    if w / h > aspect:
        crop_w = h * aspect
        x0 = left + (w - crop_w) / 2
        return (x0, top, x0 + crop_w, bottom)
    crop_h = w / aspect
    y0 = top + (h - crop_h) / 2
    return (left, y0, right, y0 + crop_h)


def _check_target(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"target size must be positive, got {width}x{height}")


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"
