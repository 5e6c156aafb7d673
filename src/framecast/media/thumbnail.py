"""Preview images of a stored MP4, decoded with PyAV: the first frame as a thumbnail and a
grid of evenly spaced frames as a sprite sheet.

Both are made on demand from the video bytes (a short clip decodes in well under a second);
nothing is stored. A file PyAV cannot decode is a ``StorageError``: it was written by this
server, so a broken one is the server's fault, not the client's.
"""

from __future__ import annotations

import io
import math

import av
from PIL import Image

from framecast.core.errors import StorageError

THUMBNAIL_WEBP_QUALITY = 90
SPRITE_COLUMNS = 5
SPRITE_MAX_TILES = 25
SPRITE_TILE_WIDTH_PX = 256
SPRITE_JPEG_QUALITY = 85


def first_frame(mp4: bytes) -> Image.Image:
    """The first decoded frame of an MP4, as an RGB image."""
    try:
        with av.open(io.BytesIO(mp4)) as container:
            for frame in container.decode(video=0):
                return frame.to_image().convert("RGB")
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise StorageError(f"the stored video cannot be decoded: {exc}") from exc
    raise StorageError("the stored video has no frames")


def thumbnail_webp(mp4: bytes, quality: int = THUMBNAIL_WEBP_QUALITY) -> bytes:
    """The first frame, full size, as WebP."""
    out = io.BytesIO()
    first_frame(mp4).save(out, "WEBP", quality=quality)
    return out.getvalue()


def spritesheet_jpeg(mp4: bytes, *, columns: int = SPRITE_COLUMNS,
                     max_tiles: int = SPRITE_MAX_TILES,
                     tile_width: int = SPRITE_TILE_WIDTH_PX) -> bytes:
    """Up to ``max_tiles`` evenly spaced frames (first and last included), each scaled to
    ``tile_width`` px wide, laid out left to right, top to bottom, as one JPEG."""
    frames = _sampled_frames(mp4, max_tiles)
    width, height = frames[0].size
    tile_height = max(1, round(height * tile_width / width))
    cols = min(columns, len(frames))
    rows = math.ceil(len(frames) / cols)
    sheet = Image.new("RGB", (cols * tile_width, rows * tile_height))
    for n, frame in enumerate(frames):
        tile = frame.resize((tile_width, tile_height), Image.Resampling.BILINEAR)
        sheet.paste(tile, ((n % cols) * tile_width, (n // cols) * tile_height))
    out = io.BytesIO()
    sheet.save(out, "JPEG", quality=SPRITE_JPEG_QUALITY)
    return out.getvalue()


def _sampled_frames(mp4: bytes, count: int) -> list[Image.Image]:
    """Decode the whole clip once, keeping ``count`` evenly spaced frames."""
    try:
        with av.open(io.BytesIO(mp4)) as container:
            total = container.streams.video[0].frames
        if not total:   # a muxer that does not record the count: decode once to count
            with av.open(io.BytesIO(mp4)) as container:
                total = sum(1 for _ in container.decode(video=0))
        wanted = _spread(total, count)
        with av.open(io.BytesIO(mp4)) as container:
            kept = [frame.to_image().convert("RGB")
                    for index, frame in enumerate(container.decode(video=0)) if index in wanted]
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise StorageError(f"the stored video cannot be decoded: {exc}") from exc
    if not kept:
        raise StorageError("the stored video has no frames")
    return kept


def _spread(total: int, count: int) -> set[int]:
    """``count`` indexes spread evenly over ``[0, total)``, first and last included."""
    if total <= count:
        return set(range(total))
    if count == 1:
        return {0}
    return {round(i * (total - 1) / (count - 1)) for i in range(count)}
