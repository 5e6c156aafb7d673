"""Reading a create body: ``multipart/form-data`` (what the SDK always sends),
``application/x-www-form-urlencoded`` or JSON, into one plain dict for the wire model.

Multipart conventions of the SDK (research/api-dialects.md §5.2, our capture): ``extra_body``
values become form fields, lists become repeated ``name[]`` fields, nested objects
``name[key]`` fields, ``None`` is left out. An empty field counts as absent. The uploaded
``input_reference`` file becomes a ``data:image/<fmt>;base64,`` URI, so the service's normal
input checks (size cap, decode, pixel and aspect limits) apply to it as to any other image.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from framecast.core.errors import FramecastError, InvalidInput, MissingInput, PayloadTooLarge
from framecast.edge.body import body_read_error, loads
from framecast.net.fetch import sniff_image_format

FILE_FIELDS = frozenset({"input_reference"})
FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
_NESTED = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<key>[^\[\]]*)\]$")


async def read_body(request: Request, *, max_file_bytes: int,
                    max_field_bytes: int) -> dict[str, Any]:
    """The body as a dict; ``InvalidInput`` (param ``body``) when it cannot be read."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in FORM_TYPES:
        try:
            form = await request.form(max_part_size=max_field_bytes)
        except Exception as exc:
            raise _unreadable(exc) from None
        return await form_to_dict(form.multi_items(), max_file_bytes=max_file_bytes)
    if media_type in ("application/json", ""):
        try:
            raw = await request.body()
        except Exception as exc:
            raise _unreadable(exc) from None
        return json_object(raw)
    raise InvalidInput(f"Unsupported Content-Type {media_type!r}: send multipart/form-data "
                       "or application/json", param="body")


def json_object(raw: bytes) -> dict[str, Any]:
    """A JSON body that must be an object."""
    if not raw.strip():
        raise MissingInput("The request body is empty.", param="body")
    try:
        data = loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"The body is not valid JSON ({exc}).", param="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", param="body")
    return data


async def form_to_dict(items: list[tuple[str, Any]], *, max_file_bytes: int) -> dict[str, Any]:
    """Form fields → dict: ``a[]`` and repeated names → lists, ``a[k]`` → ``{"a": {"k": …}}``,
    the ``input_reference`` file → a data URI, empty values dropped."""
    out: dict[str, Any] = {}
    for key, value in items:
        if isinstance(value, UploadFile):
            if key not in FILE_FIELDS:
                raise InvalidInput(f"Unexpected file field '{key}'.", param=key)
            if not value.filename and not value.size:
                continue
            value = await upload_to_data_uri(value, param=key, max_bytes=max_file_bytes)
        if value == "":
            continue
        match = _NESTED.match(key)
        if match and match["key"]:
            out.setdefault(match["name"], {})
            if isinstance(out[match["name"]], dict):
                out[match["name"]][match["key"]] = value
            continue
        name = match["name"] if match else key
        if match or name in out:
            previous = out.get(name)
            out[name] = [*(previous if isinstance(previous, list)
                           else [] if previous is None else [previous]), value]
        else:
            out[name] = value
    return out


async def upload_to_data_uri(upload: UploadFile, *, param: str, max_bytes: int) -> str:
    """An uploaded image as ``data:image/<fmt>;base64,…`` (format by its magic bytes, else by
    its declared type); larger than ``max_bytes`` → 413 naming ``param``."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"The uploaded '{param}' is larger than {max_bytes} bytes.",
                              param=param)
    declared = (upload.content_type or "").lower()
    fmt = sniff_image_format(data) or (declared.split("/", 1)[1] if declared.startswith(
        "image/") else "png")
    return f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"


def _unreadable(exc: Exception) -> FramecastError:
    known = body_read_error(exc)
    if known is not None:
        return known
    detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
    return InvalidInput(f"The request body could not be read ({detail}).", param="body")
