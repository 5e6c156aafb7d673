"""Unit tests of ``dialects/aiml/envelope.py``: every error in the AI/ML envelope
(``Body validation error!`` and a zod-style line naming the field)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.requests import Request

from framecast.core.errors import (
    EngineFailed,
    FetchFailed,
    InvalidInput,
    MissingInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from framecast.dialects.aiml.envelope import ENVELOPE
from framecast.edge.envelope import field_path

# -- the error envelope ------------------------------------------------------------------------


def request(method: str = "POST", path: str = "/v2/video/generations") -> Request:
    return Request({"type": "http", "method": method, "path": path, "query_string": b"",
                    "headers": [], "scheme": "http", "server": ("testserver", 80),
                    "root_path": ""})


@pytest.mark.parametrize(("exc", "status", "param", "prefix"), [
    (InvalidInput("bad", param="duration"), 400, "duration", "Body validation error!\n"),
    (MissingInput("Required", param="prompt"), 400, "prompt", "Body validation error!\n"),
    (InvalidInput("no first frame", param="images"), 400, "image_url", "Body validation"),
    (NotFound("The video model `x` does not exist", param="model"), 400, "model", "Body"),
    (NotFound("Generation not found", param="generation_id"), 404, "generation_id",
     "Generation"),
    (FetchFailed("could not fetch", param="image_url"), 400, "image_url", "could not"),
    (PayloadTooLarge("too big", param="image_url"), 413, "image_url", "too big"),
    (Unauthorized("missing key"), 401, None, "missing key"),
    (RateLimited("slow down", retry_after_s=2.5), 429, None, "slow down"),
    (EngineFailed("engine died"), 500, None, "engine died"),
])
def test_errors_map_to_the_vendor_envelope(exc: Any, status: int, param: str | None,
                                           prefix: str) -> None:
    response = ENVELOPE.respond(exc, request())
    body = response.body.decode()
    import json

    data = json.loads(body)
    assert response.status_code == status
    assert data["statusCode"] == str(status) and data["path"] == "/v2/video/generations"
    assert data.get("param") == param and data["message"].startswith(prefix)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["timestamp"])
    assert re.fullmatch(r"[0-9a-f-]{36}", data["requestId"])
    if status == 429:
        assert response.headers["retry-after"] == "3"
    if status == 500:
        assert response.headers["x-should-retry"] == "false"


def test_query_errors_say_query() -> None:
    response = ENVELOPE.respond(MissingInput("Required", param="generation_id"), request("GET"))
    assert b"Query validation error!\\ngeneration_id: Required" in response.body


def test_field_path() -> None:
    assert field_path(("query", "generation_id")) == "generation_id"
    assert field_path(("body", "image_size", "width")) == "image_size.width"
    assert field_path(("body", "image_urls", 2)) == "image_urls[2]"
    assert field_path(()) == "body"
