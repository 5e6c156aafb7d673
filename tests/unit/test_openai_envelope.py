"""Unit tests of ``dialects/openai/envelope.py``: every error in the OpenAI envelope, with
the SDK's types and codes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from framecast.core.errors import (
    EngineFailed,
    InvalidInput,
    InvalidState,
    MissingInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from framecast.dialects.openai import envelope
from tests.unit.support.envelopes import respond

# -- the error envelope -----------------------------------------------------------------------


@pytest.mark.parametrize(("exc", "status", "type_", "code", "param"), [
    (InvalidInput("bad", param="size"), 400, "invalid_request_error", "invalid_value", "size"),
    (MissingInput("need", param="prompt"), 400, "invalid_request_error",
     "missing_required_parameter", "prompt"),
    (InvalidInput("needs image", param="images"), 400, "invalid_request_error",
     "invalid_value", "input_reference"),
    (PayloadTooLarge("big", param="body"), 413, "invalid_request_error", "request_too_large",
     "body"),
    (Unauthorized("no key"), 401, "authentication_error", "invalid_api_key", None),
    (NotFound("no video", param="video_id"), 404, "not_found_error", "not_found", "video_id"),
    (NotFound("no model", param="model", code="InvalidEndpointOrModel.NotFound"), 404,
     "not_found_error", "model_not_found", "model"),
    (InvalidState("busy", param="video_id"), 400, "invalid_request_error", "invalid_state",
     "video_id"),
    (RateLimited("slow", retry_after_s=1.2), 429, "rate_limit_error", "rate_limit_exceeded",
     None),
    (EngineFailed("died"), 500, "server_error", "internal_service_error", None),
])
def test_errors_map_to_the_openai_envelope(exc: Any, status: int, type_: str, code: str,
                                           param: str | None) -> None:
    response = respond(envelope.ENVELOPE, exc)
    error = json.loads(response.body)["error"]
    assert response.status_code == status
    assert (error["type"], error["code"], error["param"]) == (type_, code, param)
    assert error["message"] == exc.message
    if status == 429:
        assert response.headers["retry-after"] == "2"
    if status == 500:
        assert response.headers["x-should-retry"] == "false"


def test_error_code_spelling() -> None:
    assert envelope.error_code("InternalServiceError") == "internal_service_error"
    assert envelope.error_code("VideoNotReady") == "video_not_ready"
    assert envelope.error_type(503) == "server_error" and envelope.error_type(418) == \
        "invalid_request_error"
