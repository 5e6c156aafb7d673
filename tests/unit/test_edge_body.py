"""Unit tests of ``edge/body.py``: a ``lean`` route answers exactly as the same handler solved
by FastAPI does (values, validation errors and their order; only a JSON syntax error is worded
by another parser), refuses at build time a parameter it cannot read, and parses bodies deep
or large without trouble, in every API."""

from __future__ import annotations

import warnings
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from framecast.core.errors import Unauthorized
from framecast.edge.body import lean, lean_handler
from framecast.native.envelope import ENVELOPE

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class Body(BaseModel):
    name: str
    count: int = 1
    tags: list[str] = []


async def caller(request: Request) -> str:
    """A dependency of the request: the caller named by a header."""
    who = request.headers.get("x-caller")
    if not who:
        raise Unauthorized("who are you?")
    return who


CallerDep = Annotated[str, Depends(caller)]


async def handle(item_id: str, body: Body, request: Request, who: CallerDep) -> JSONResponse:
    return JSONResponse({"id": item_id, "body": body.model_dump(), "who": who,
                         "path": request.url.path})


def app() -> FastAPI:
    """The same handler twice: solved by FastAPI, and ``lean``."""
    router = APIRouter(route_class=ENVELOPE.route)
    router.add_api_route("/solved/{item_id}", handle, methods=["POST"])
    router.add_api_route("/lean/{item_id}", lean(_copy(handle)), methods=["POST"])
    application = FastAPI()
    application.include_router(router)
    return application


def _copy(fn: Any) -> Any:
    async def copy(item_id: str, body: Body, request: Request, who: CallerDep) -> JSONResponse:
        return await fn(item_id, body, request, who)
    return copy


@pytest.mark.parametrize(("headers", "body"), [
    ({"x-caller": "ann"}, {"name": "a", "tags": ["x"]}),                  # fine
    ({"x-caller": "ann"}, {"count": 2}),                                  # missing name
    ({"x-caller": "ann"}, {"name": "a", "count": "many"}),                # wrong type
    ({"x-caller": "ann"}, None),                                          # no body
    ({"x-caller": "ann"}, b"{not json"),                                  # not JSON
    ({}, {"name": "a"}),                                                  # no caller
    ({}, {"count": "many"}),                                              # wrong twice
])
def test_a_lean_route_answers_as_fastapi_does(headers: dict[str, str], body: Any) -> None:
    with TestClient(app()) as client:
        answers = []
        for prefix in ("solved", "lean"):
            if isinstance(body, bytes):
                response = client.post(f"/{prefix}/7", content=body,
                                       headers={**headers, "Content-Type": "application/json"})
            else:
                response = client.post(f"/{prefix}/7", json=body, headers=headers)
            data = response.json()
            if "path" in data:
                data["path"] = data["path"].replace(prefix, "")
            if isinstance(body, bytes):   # the parsers word a syntax error each their own way
                assert "not valid JSON" in data["error"].pop("message")
            answers.append((response.status_code, data))
    assert answers[0] == answers[1]


def test_a_parameter_it_cannot_read_is_refused_when_the_route_is_built() -> None:
    async def query(limit: int) -> JSONResponse:
        return JSONResponse({})

    async def sync_dependency(who: Annotated[str, Depends(lambda request: "x")]) -> JSONResponse:
        return JSONResponse({})

    for endpoint in (query, sync_dependency):
        with pytest.raises(TypeError, match="lean route"):
            lean_handler(endpoint)


def test_deep_nesting_is_a_json_error_not_a_crash() -> None:
    from fastapi.exceptions import RequestValidationError

    from framecast.edge.body import parse_json

    deep = b'{"model":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(RequestValidationError) as caught:
        parse_json(deep)
    assert caught.value.errors()[0]["type"] == "json_invalid"
    assert parse_json(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


# every API's create, which some dialects parse themselves (AI/ML, OpenAI, Wiro)
CREATE_PATHS = ("/api/v3/contents/generations/tasks", "/v2/video/generations", "/v1/videos",
                "/seedance/videos", "/v1/Run/ByteDance/image-to-video-seedance-v1",
                "/framecast/v1/videos")


@pytest.mark.parametrize("path", CREATE_PATHS)
def test_deep_nesting_is_refused_by_every_api_never_a_500(tmp_path: Any, path: str) -> None:
    from framecast.api.app import create_app
    from framecast.api.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, api_key="k", run_worker=False))
    deep = b"[" * 100_000 + b"]" * 100_000    # json.loads: RecursionError
    with TestClient(app) as client:
        answer = client.post(path, content=deep, headers={
            "Authorization": "Bearer k", "x-api-key": "k", "Content-Type": "application/json"})
    if path.startswith("/v1/Run/"):       # Wiro answers a refused request 200, result false
        assert answer.status_code == 200 and answer.json()["result"] is False, answer.text
    else:
        assert answer.status_code == 400, answer.text


def test_a_nul_character_is_refused_in_bytes_and_in_text() -> None:
    """(a WebSocket message arrives as text; a body as bytes)"""
    from framecast.edge.body import loads

    for raw in (b'{"prompt": "a\\u0000b"}', '{"prompt": "a\\u0000b"}',
                '{"k\\u0000": 1}', '[["\\u0000"]]'):
        with pytest.raises(ValueError, match="NUL character"):
            loads(raw)
    assert loads('{"prompt": "a\\\\u0000b"}') == {"prompt": "a\\u0000b"}   # an escaped backslash
