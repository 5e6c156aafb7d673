"""Real photographs for the benchmarks: JPEGs of any size made from scikit-image's sample
photos (``skimage.data``: real camera pictures that ship with the package, so nothing is
downloaded). A 12 MP image is a mosaic of several of them, each resized to its tile, so the
encoder sees photographic content everywhere (edges, textures, gradients), never noise or
flat colour.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

# colour photographs of skimage.data (name: what it shows)
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina",
          "immunohistochemistry", "cat")


@functools.cache
def _photo(name: str) -> Image.Image:
    import skimage.data

    pixels = np.asarray(getattr(skimage.data, name)())
    return Image.fromarray(pixels[..., :3]).convert("RGB")


def photo_jpeg(width: int = 4000, height: int = 3000, *, quality: int = 95) -> bytes:
    """A ``width``×``height`` JPEG of real photographs: a 4×3 mosaic of the sample photos
    (cover-cropped into their tiles), encoded at ``quality``."""
    columns, rows = 4, 3
    mosaic = Image.new("RGB", (width, height))
    tile_w, tile_h = -(-width // columns), -(-height // rows)
    for n in range(columns * rows):
        photo = _photo(PHOTOS[n % len(PHOTOS)])
        scale = max(tile_w / photo.width, tile_h / photo.height)
        resized = photo.resize((round(photo.width * scale) + 1, round(photo.height * scale) + 1),
                               Image.Resampling.LANCZOS)
        left, top = (resized.width - tile_w) // 2, (resized.height - tile_h) // 2
        tile = resized.crop((left, top, left + tile_w, top + tile_h))
        mosaic.paste(tile, ((n % columns) * tile_w, (n // columns) * tile_h))
    buffer = io.BytesIO()
    mosaic.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
