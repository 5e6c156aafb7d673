"""Unit tests of ``dialects/ark/envelope.py`` (through ``edge/envelope.py``): the field a
wire error names, and every error in Ark's ``{"error": {code, message, param, type}}``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from framecast.core.errors import (
    EngineFailed,
    InvalidInput,
    InvalidState,
    MissingInput,
    NotFound,
    RateLimited,
    Unauthorized,
)
from framecast.dialects.ark import wire
from framecast.dialects.ark.envelope import ENVELOPE
from framecast.edge.envelope import field_path
from tests.unit.support.ark import MODEL, text
from tests.unit.support.envelopes import respond, respond_validation

# -- wire request parsing (pydantic side) ------------------------------------------------------


def validation_param(body: dict[str, Any], model: type = wire.CreateTaskRequest) -> str:
    """The param the Ark error mapping would name for a body pydantic rejects."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    first = caught.value.errors()[0]
    return field_path(("body", *first["loc"]), ENVELOPE.union_tags)


@pytest.mark.parametrize(("body", "param"), [
    ({"content": [text("x")]}, "model"),
    ({"model": MODEL}, "content"),
    ({"model": MODEL, "content": "a cat"}, "content"),
    ({"model": MODEL, "content": [text("x"), {"type": "image_url", "image_url": {}}]},
     "content[1].image_url.url"),
    ({"model": MODEL, "content": [text("x"), {"type": "image_url"}]}, "content[1].image_url"),
    ({"model": MODEL, "content": [{"type": "text"}]}, "content[0].text"),
    ({"model": MODEL, "content": [{"type": "sound"}]}, "content[0]"),
    ({"model": MODEL, "content": [{"text": "x"}]}, "content[0]"),
    ({"model": MODEL, "content": [text("x")], "duration": "five"}, "duration"),
    ({"model": MODEL, "content": [text("x")], "seed": 1.5}, "seed"),
    ({"model": MODEL, "content": [text("x")], "return_last_frame": "perhaps"},
     "return_last_frame"),
])
def test_wire_validation_errors_name_the_field(body: dict[str, Any], param: str) -> None:
    assert validation_param(body) == param


def test_field_path_of_query_and_json_errors() -> None:
    assert field_path(("query", "page_num"), ENVELOPE.union_tags) == "page_num"
    assert field_path(("query", "filter.task_ids", 0), ENVELOPE.union_tags) == "filter.task_ids[0]"
    assert field_path(("body",), ENVELOPE.union_tags) == "body"
    assert field_path((), ENVELOPE.union_tags) == "body"


# -- error envelope ---------------------------------------------------------------------------


def envelope_of(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status_code, json.loads(response.body)["error"]


@pytest.mark.parametrize(("exc", "status", "type_", "code"), [
    (InvalidInput("bad", param="ratio"), 400, "BadRequest", "InvalidParameter"),
    (MissingInput("none", param="content"), 400, "BadRequest", "MissingParameter"),
    (Unauthorized("who"), 401, "Unauthorized", "AuthenticationError"),
    (NotFound("gone", param="id"), 404, "NotFound", "ResourceNotFound"),
    (InvalidState("running", param="id"), 400, "BadRequest", "InvalidAction"),
    (RateLimited("slow down", retry_after_s=2.5), 429, "TooManyRequests", "RateLimitExceeded"),
    (EngineFailed("boom"), 500, "InternalServiceError", "InternalServiceError"),
])
def test_framecast_errors_map_to_the_ark_envelope(exc: Any, status: int, type_: str,
                                                  code: str) -> None:
    response = respond(ENVELOPE, exc)
    got_status, body = envelope_of(response)
    assert (got_status, body["type"], body["code"]) == (status, type_, code)
    assert body["message"] == exc.message and body["param"] == exc.param
    if status == 429:
        assert response.headers["retry-after"] == "3"
    if status == 500:
        assert response.headers["x-should-retry"] == "false"


def test_payload_too_large_is_bad_request_413() -> None:
    from framecast.core.errors import PayloadTooLarge

    status, body = envelope_of(respond(ENVELOPE, PayloadTooLarge("big")))
    assert (status, body["type"]) == (413, "BadRequest")


def test_validation_error_envelopes() -> None:
    missing = RequestValidationError([{"type": "missing", "loc": ("body", "model"), "msg": "x"}])
    status, body = envelope_of(respond_validation(ENVELOPE, missing))
    assert (status, body["code"], body["param"]) == (400, "MissingParameter", "model")
    bad_json = RequestValidationError([{"type": "json_invalid", "loc": ("body", 3), "msg": "x",
                                        "ctx": {"error": "Expecting value"}}])
    status, body = envelope_of(respond_validation(ENVELOPE, bad_json))
    assert (status, body["code"], body["param"]) == (400, "InvalidParameter", "body")
