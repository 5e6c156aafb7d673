"""Parameters written into the prompt as ``--name value`` (research/api-dialects.md §1.2.2).

The ``text`` item of a create request may carry parameters, long or short:

    --resolution/--rs   --ratio/--rt   --duration/--dur   --frames   --framespersecond/--fps
    --seed   --camerafixed/--cf   --watermark/--wm

* Known flags are removed from the prompt wherever they stand; the words on either side stay
  one space apart.
* Unknown ``--words`` (``--fr``, ``--foo``) are ordinary prompt text and stay in it: there is
  no vendor short form for ``--frames`` and a prompt may legitimately contain ``--``.
* ``--name=value`` and quoted values work; flag names are case-insensitive; a repeated flag
  keeps its last value; a value's trailing ``.``, ``,`` or ``;`` is dropped.
* A known flag without a value, or with a bad one, is ``InvalidInput`` naming the top-level
  field (``camera_fixed`` for ``--cf``, ``framespersecond`` for ``--fps``).

Parsing is linear in the text's length, and the text is capped before it is parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from framecast.core import sizes
from framecast.core.errors import InvalidInput
from framecast.core.spec import PROMPT_MAX_CHARS

MAX_TEXT_CHARS = 2 * PROMPT_MAX_CHARS   # prompt plus flags, checked before parsing

# flag as written (lower case) -> the top-level field it sets
FLAG_FIELDS: dict[str, str] = {
    "resolution": "resolution", "rs": "resolution",
    "ratio": "ratio", "rt": "ratio",
    "duration": "duration", "dur": "duration",
    "frames": "frames",
    "framespersecond": "framespersecond", "fps": "framespersecond",
    "seed": "seed",
    "camerafixed": "camera_fixed", "cf": "camera_fixed",
    "watermark": "watermark", "wm": "watermark",
}
_FLAG_NAMES = "|".join(sorted(FLAG_FIELDS, key=len, reverse=True))
_FLAG_RE = re.compile(
    rf"(?<!\S)--(?P<name>{_FLAG_NAMES})(?=[\s=]|$)"
    r"(?:[ \t]*=[ \t]*|[ \t]+)?"
    r"(?P<value>(?!--)(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s\"']+))?",
    re.IGNORECASE,
)
_INT_RE = re.compile(r"^[+-]?\d+$")
_TRUE = ("true", "1")
_FALSE = ("false", "0")


@dataclass
class PromptFlags:
    """A prompt with its flags taken out: ``values`` maps a field name to the raw text of its
    last flag, ``written`` to the flag as the client wrote it (for messages)."""

    prompt: str
    values: dict[str, str] = field(default_factory=dict)
    written: dict[str, str] = field(default_factory=dict)


def parse_prompt_flags(text: str) -> PromptFlags:
    """Remove every known ``--flag value`` from ``text``; keep the rest of the text as is.

    Linear in the length of ``text`` (no pattern here may backtrack over long whitespace)."""
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(f"the prompt must be at most {PROMPT_MAX_CHARS} characters, got "
                           f"{len(text)}", param="content")
    flags = PromptFlags(prompt="")
    kept = ""
    end = 0
    for match in _FLAG_RE.finditer(text):
        name = match["name"].lower()
        field_name = FLAG_FIELDS[name]
        value = match["value"]
        if value is None:
            raise InvalidInput(f"the prompt flag `--{name}` needs a value", param=field_name)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].strip()
        flags.values[field_name] = value.rstrip(".,;")
        flags.written[field_name] = f"--{name}"
        kept = _join(kept, text[end:match.start()])
        end = match.end()
    flags.prompt = _join(kept, text[end:]).strip() if end else text.strip()
    return flags


def _join(left: str, right: str) -> str:
    """Join the text on either side of a removed flag, one space apart."""
    left, right = left.rstrip(), right.lstrip()
    return f"{left} {right}" if left and right else left or right


def as_resolution(raw: str, source: str) -> str:
    """``raw`` as a resolution (``720P`` → ``720p``); ``source`` names it in the message."""
    value = raw.strip().lower()
    if value not in sizes.RESOLUTIONS:
        raise InvalidInput(f"{source} must be one of {', '.join(sizes.RESOLUTIONS)}, "
                           f"got {raw!r}", param="resolution")
    return value


def as_ratio(raw: str, source: str) -> str:
    """``raw`` as an aspect ratio or ``adaptive``; ``source`` names it in the message."""
    value = raw.strip().lower()
    choices = (*sizes.RATIOS, "adaptive")
    if value not in choices:
        raise InvalidInput(f"{source} must be one of {', '.join(choices)}, got {raw!r}",
                           param="ratio")
    return value


def _as_int(raw: str, source: str, param: str) -> int:
    if not _INT_RE.match(raw.strip()):
        raise InvalidInput(f"{source} must be an integer, got {raw!r}", param=param)
    return int(raw)


def _as_bool(raw: str, source: str, param: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInput(f"{source} must be true or false, got {raw!r}", param=param)


def flag_value(flags: PromptFlags, name: str) -> Any:
    """The typed value of flag field ``name`` (``None`` when the prompt does not set it)."""
    raw = flags.values.get(name)
    if raw is None:
        return None
    source = f"`{flags.written[name]}`"
    if name == "resolution":
        return as_resolution(raw, source)
    if name == "ratio":
        return as_ratio(raw, source)
    if name in ("camera_fixed", "watermark"):
        return _as_bool(raw, source, name)
    return _as_int(raw, source, name)
