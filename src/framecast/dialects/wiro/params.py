"""Reading Wiro request parameters: JSON, multipart or url-encoded bodies, and typed values
with Wiro's own error messages (``Request parameter [seed] must be integer``).

Wiro clients send the same parameters three ways: a JSON object (values may be strings,
numbers, booleans or null), ``multipart/form-data`` (every value a string; file inputs as
file parts, with the ``…Url`` twin sent empty), or url-encoded form fields. The tool pages'
own curl examples label a JSON body ``multipart/form-data`` without a boundary; such a body
is read as JSON. Booleans are strings (``"true"``/``"false"``); an empty string means
absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import UploadFile

from framecast.core.errors import InvalidInput, MissingInput
from framecast.dialects.wiro.envelope import INVALID_BODY
from framecast.edge.body import loads

MAX_FORM_FILES = 16
MAX_FORM_FIELDS = 200
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Params:
    """A request's parameters (``values``) and file parts (``files``, by field name)."""

    values: dict[str, Any] = field(default_factory=dict)
    files: dict[str, list[Upload]] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """The value as text; None when absent, null or empty; a JSON list or object is
        refused (every Wiro parameter is a string, a number or a boolean)."""
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            raise InvalidInput(f"Request parameter [{name}] must be a string, not a JSON "
                               f"{'list' if isinstance(value, list) else 'object'}",
                               param=name)
        text = str(value).strip() if not isinstance(value, bool) else str(value).lower()
        return text or None

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """One of ``choices`` (``default`` when absent)."""
        value = self.text(name)
        if value is None:
            return default
        if value not in choices:
            raise InvalidInput(f"Request parameter [{name}] must be one of "
                               f"{', '.join(choices)}", param=name)
        return value

    def boolean(self, name: str, default: bool) -> bool:
        """``"true"``/``"false"`` (also JSON booleans, 1/0, yes/no)."""
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise InvalidInput(f"Request parameter [{name}] must be true or false", param=name)

    def integer(self, name: str, low: int, high: int) -> int | None:
        """A whole number within [low, high] (``"5"``, ``5`` and ``5.0`` are all 5)."""
        value = self.text(name)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if number != number or not number.is_integer():   # NaN, 1.5, "abc"
            raise InvalidInput(f"Request parameter [{name}] must be integer", param=name)
        if not low <= number <= high:
            raise InvalidInput(f"Request parameter [{name}] must be between {low} and {high}",
                               param=name)
        return int(number)

    def number(self, name: str, low: float, high: float) -> float | None:
        """A number within [low, high]."""
        value = self.text(name)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if number != number:
            raise InvalidInput(f"Request parameter [{name}] must be integer or float",
                               param=name)
        if not low <= number <= high:
            raise InvalidInput(f"Request parameter [{name}] must be between {low:g} and "
                               f"{high:g}", param=name)
        return number

    def required_text(self, name: str) -> str:
        """A text value that must be present."""
        value = self.text(name)
        if value is None:
            raise MissingInput(f"Request parameter [{name}] required", param=name)
        return value

    def url(self, name: str, *, data_uri: bool = False) -> str | None:
        """An http(s) URL (or, with ``data_uri``, a ``data:image/...`` URI)."""
        value = self.text(name)
        if value is None:
            return None
        if data_uri and value[:11].lower() == "data:image/":
            return value
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            kinds = "an http(s) URL or a data:image/ URI" if data_uri else "an http(s) URL"
            raise InvalidInput(f"Request parameter [{name}] must be {kinds}", param=name)
        return value

    def echo(self) -> dict[str, Any]:
        """The parameters as the client sent them (file parts summarised), for
        ``Task/Detail``'s ``parameters``."""
        shown = {k: v for k, v in self.values.items()
                 if not (isinstance(v, str) and v[:5].lower() == "data:")}
        for name, uploads in self.files.items():
            shown[name] = ", ".join(f"{u.filename or 'upload'} ({len(u.data)} bytes)"
                                    for u in uploads)
        return shown


async def read_params(request: Request) -> Params:
    """The parameters of a Wiro request, whatever the body's encoding."""
    ctype = request.headers.get("content-type", "").lower()
    is_multipart = ctype.startswith("multipart/form-data") and "boundary=" in ctype
    if is_multipart or ctype.startswith("application/x-www-form-urlencoded"):
        return await _read_form(request)
    body = await request.body()
    if not body.strip():
        return Params()
    try:
        data = loads(body)
    except ValueError:
        raise InvalidInput(INVALID_BODY, param="body") from None
    if not isinstance(data, dict):
        raise InvalidInput(INVALID_BODY, param="body")
    return Params(values=data)


async def _read_form(request: Request) -> Params:
    try:
        form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
    except Exception:   # malformed multipart, too many parts: the client's request is bad
        raise InvalidInput(INVALID_BODY, param="body") from None
    params = Params()
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                if data:
                    params.files.setdefault(name, []).append(
                        Upload(value.filename or "", value.content_type or "", data))
            elif "\x00" in name or "\x00" in value:   # (as the JSON parser refuses it)
                raise InvalidInput(INVALID_BODY, param="body")
            else:
                previous = params.values.get(name)
                if previous and value:        # a repeated field: Wiro's comma-separated list
                    params.values[name] = f"{previous},{value}"
                elif value or previous is None:
                    params.values[name] = value
    finally:
        await form.close()
    return params
