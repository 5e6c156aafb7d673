"""Input images as the server takes them: an http(s) URL or a ``data:image/...;base64,`` URI.

A caller may give a local file path (``str`` or ``os.PathLike``), an http(s) URL, a data
URI, or the raw bytes of an image. Paths and bytes become data URIs here (the server never
reads the caller's disk); the image type is sniffed from the bytes' magic numbers, then from
the file's suffix. Request bodies are built here too, leaving out every option not given,
so that the server's defaults apply.
"""

from __future__ import annotations

import base64
import mimetypes
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from framecast.client._errors import InputError

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def sniff_image_type(data: bytes) -> str | None:
    """The image MIME type of ``data`` from its first bytes, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    return next((mime for magic, mime in _MAGIC if data.startswith(magic)), None)


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,<data>``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_ref(source: ImageSource, *, param: str) -> str:
    """What the server takes for ``source``: URLs and data URIs as they are, local files and
    bytes as data URIs. ``InputError`` (naming ``param``) when it cannot be used."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        mime = sniff_image_type(data)
        if mime is None:
            raise InputError(f"`{param}`: the bytes given are not a PNG, JPEG, WebP, GIF, "
                             "BMP or TIFF image", param=param)
        return data_uri(data, mime)
    if isinstance(source, str):
        text = source.strip()
        if text.lower().startswith(("http://", "https://", "data:")):
            return text
        if not text:
            raise InputError(f"`{param}` is empty", param=param)
    elif not isinstance(source, os.PathLike):
        raise InputError(f"`{param}` must be a file path, an http(s) URL, a data: URI or "
                         f"bytes, got {type(source).__name__}", param=param)
    path = Path(source).expanduser()
    if not path.is_file():
        raise InputError(f"`{param}`: no such file: {str(source)!r} (give a file path, an "
                         "http(s) URL, a data: URI or bytes)", param=param)
    data = path.read_bytes()
    mime = sniff_image_type(data) or mimetypes.guess_type(path.name)[0]
    if mime is None or not mime.startswith("image/"):
        raise InputError(f"`{param}`: {path} is not an image file", param=param)
    return data_uri(data, mime)


def compact(**fields: Any) -> dict[str, Any]:
    """``fields`` without the ones that are None (the server's defaults apply to those)."""
    return {k: v for k, v in fields.items() if v is not None}


def video_body(*, image: ImageSource | None, last_frame: ImageSource | None,
               references: Iterable[ImageSource] | None, **options: Any) -> dict[str, Any]:
    """The JSON body of ``POST /framecast/v1/videos``."""
    if options.get("duration") is not None and options.get("frames") is not None:
        raise InputError("give `duration` or `frames`, not both", param="frames")
    if last_frame is not None and image is None:
        raise InputError("`last_frame` needs `image` (the first frame)", param="last_frame")
    body = compact(**options)
    if image is not None:
        body["first_frame"] = image_ref(image, param="image")
    if last_frame is not None:
        body["last_frame"] = image_ref(last_frame, param="last_frame")
    refs = [image_ref(r, param=f"references[{n}]") for n, r in enumerate(references or [])]
    if refs:
        body["reference_images"] = refs
    return body


def image_body(*, images: Iterable[ImageSource] | None, **options: Any) -> dict[str, Any]:
    """The JSON body of ``POST /framecast/v1/images``."""
    body = compact(**options)
    refs = [image_ref(r, param=f"images[{n}]") for n, r in enumerate(images or [])]
    if refs:
        body["images"] = refs
    return body
