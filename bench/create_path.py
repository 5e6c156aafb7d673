"""Benchmark: the steps of a create that carries a photograph, each against its alternative.

An image-to-video create carries its first frame, often inline as a ``data:`` URI. On the API
process, its cost is: parse the JSON body, decode the base64, check the image. This bench
times each step the way ``framecast`` does it against the way it could be done, in one
process, on the same bytes (real photographs from ``bench/_photos.py``), median of
``--repeat`` runs each:

* **JSON body**: a create whose ``data:`` URI holds a 12 MP photograph as PNG (about 20 MB
  of JSON, the size the issue names), parsed by the standard library's ``json.loads``, by
  ``orjson.loads`` (when installed) and by pydantic-core's ``from_json`` (what
  ``edge/body.parse_json`` uses);
* **base64**: the 12 MP JPEG's data URI payload decoded (with validation) by the standard
  library and by ``pybase64`` (what ``net/fetch`` uses);
* **image check**: the 12 MP JPEG decoded and re-encoded as PNG (what the API process did to
  every input before), decoded only (``decode_image``, what the worker now does before the
  engine) and checked from its header (``media/images.probe_image``, what the API process
  does now).

Run from the repository root; results are in docs/benchmarks.md:

    .venv/bin/python bench/create_path.py
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import pybase64
import pydantic_core
from PIL import Image

from _photos import photo_jpeg
from framecast.media.images import decode_image, probe_image

try:
    import orjson
except ImportError:   # optional: measured when installed
    orjson = None

PHOTO_SIZE = (4000, 3000)


def median_ms(call: Callable[[], Any], repeat: int) -> float:
    """The median wall time of ``call`` in milliseconds, after one warm-up call."""
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def photo_png(jpeg: bytes) -> bytes:
    """The photograph re-encoded as PNG (lossless, so about 20 MB for 12 MP of photo)."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def png_again(jpeg: bytes) -> bytes:
    """What the API process did to every input image before: decode it, then re-encode it
    as PNG (compress level 6) to store."""
    image = decode_image(jpeg, param="image")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def create_json(image: bytes, image_format: str) -> bytes:
    """An Ark create body whose first frame is ``image`` as a ``data:`` URI."""
    uri = f"data:image/{image_format};base64," + base64.b64encode(image).decode()
    return json.dumps({"model": "doubao-seedance-1-0-pro-250528", "content": [
        {"type": "text", "text": "a paper boat on a pond --rs 480p --frames 29"},
        {"type": "image_url", "image_url": {"url": uri}, "role": "first_frame"}]}).encode()


def rows(repeat: int) -> list[tuple[str, str, float, float]]:
    """(step, way, median ms, the step's first way's time / this way's) for every step and
    way."""
    jpeg = photo_jpeg(*PHOTO_SIZE)
    big_body = create_json(photo_png(jpeg), "png")
    payload = base64.b64encode(jpeg)
    steps: dict[str, list[tuple[str, Callable[[], Any]]]] = {
        f"JSON body ({len(big_body) / 1e6:.1f} MB)": [
            ("json.loads (stdlib)", lambda: json.loads(big_body)),
            *([("orjson.loads", lambda: orjson.loads(big_body))] if orjson else []),
            ("pydantic_core.from_json (kept)", lambda: pydantic_core.from_json(big_body)),
        ],
        f"base64, validated ({len(payload) / 1e6:.1f} MB)": [
            ("base64.b64decode (stdlib)", lambda: base64.b64decode(payload, validate=True)),
            ("pybase64.b64decode (kept)", lambda: pybase64.b64decode(payload, validate=True)),
        ],
        f"image check, 12 MP JPEG ({len(jpeg) / 1e6:.1f} MB)": [
            ("decode + PNG re-encode (the API process before)", lambda: png_again(jpeg)),
            ("decode_image (now in the worker)", lambda: decode_image(jpeg, param="image")),
            ("probe_image (the API process now)", lambda: probe_image(jpeg, param="image")),
        ],
    }
    out = []
    for step, ways in steps.items():
        baseline = None
        for way, call in ways:
            ms = median_ms(call, repeat)
            baseline = baseline or ms
            out.append((step, way, ms, baseline / ms))
    return out


def main() -> None:
    """Time every step, print a markdown table and the command."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per way")
    args = parser.parse_args()
    lines = [f"Create-path steps, median of {args.repeat}, one process, Python "
             f"{platform.python_version()}, {platform.machine()}.", "",
             "| step | way | median ms | speed-up over the step's first way |",
             "|---|---|---:|---:|"]
    for step, way, ms, speedup in rows(args.repeat):
        lines.append(f"| {step} | {way} | {ms:.2f} | {speedup:,.{0 if speedup >= 10 else 2}f}× |")
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/create_path.py",
                                                *sys.argv[1:]])
    lines += ["", f"Command: `{command}`"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
