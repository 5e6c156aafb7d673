"""Request helpers every API package shares: JSON bodies refused exactly as FastAPI refuses
them, and ``lean`` endpoints (called with the request alone, for the routes clients poll
hardest) with the OpenAPI documentation FastAPI would have written for them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

M = TypeVar("M", bound=BaseModel)
_LEAN = "__framecast_lean__"                 # the mark ``lean`` sets on an endpoint


def lean(endpoint: Callable[[Request], Awaitable[Response]]) \
        -> Callable[[Request], Awaitable[Response]]:
    """Mark ``async def endpoint(request) -> Response`` to be called as it is, with no
    parameters solved by FastAPI (routing and the error envelope stay). For the routes
    clients poll hardest: FastAPI's parameter solving cost more than their work
    (docs/benchmarks.md). The endpoint reads its own path parameters, owner and body
    (``json_body``); ``openapi_extra`` documents them."""
    setattr(endpoint, _LEAN, True)
    return endpoint


def is_lean(endpoint: Callable[..., Any]) -> bool:
    """Whether ``endpoint`` was marked ``lean``."""
    return getattr(endpoint, _LEAN, False)


async def json_body(request: Request, model: type[M]) -> M:
    """The request body as ``model``, refused exactly as a FastAPI body parameter refuses it:
    ``RequestValidationError`` with ``body`` first in every error location."""
    raw = await request.body()
    data: Any = raw
    if raw:
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        maintype, _, subtype = media_type.partition("/")
        if maintype == "application" and (subtype == "json" or subtype.endswith("+json")):
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise RequestValidationError([{
                    "type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                    "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
            except ValueError as exc:   # not text in any JSON encoding
                raise HTTPException(status_code=400,
                                    detail="There was an error parsing the body") from exc
    else:
        raise RequestValidationError([{"type": "missing", "loc": ("body",),
                                       "msg": "Field required", "input": None}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()],
            body=data) from None


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON body of a ``lean`` route (its
    nested models written out in place, as the schema has no components of its own)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            if isinstance(node.get("discriminator"), dict):
                # its mapping names $defs too; the mapping is optional in OpenAPI
                node = {**node, "discriminator": {
                    "propertyName": node["discriminator"]["propertyName"]}}
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": inline(schema)}}}}


def openapi_path_params(*names: str) -> dict[str, Any]:
    """``openapi_extra`` documenting string path parameters of a ``lean`` route."""
    return {"parameters": [{"name": name, "in": "path", "required": True,
                            "schema": {"type": "string"}} for name in names]}
