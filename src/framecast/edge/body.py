"""Request helpers every API package shares: ``lean`` routes (the ones clients send over and
over, whose parameters are read without FastAPI's solver) and JSON bodies refused exactly as
FastAPI refuses them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar, get_args, get_origin, get_type_hints

import pydantic_core
from fastapi import Request, Response, params
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from framecast.core.errors import FramecastError, PayloadTooLarge

M = TypeVar("M", bound=BaseModel)
Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])
_LEAN = "__framecast_lean__"                 # the mark ``lean`` sets on an endpoint


def lean(endpoint: Endpoint) -> Endpoint:
    """Mark a route for the front door (``api/fastpath.py``): clients send it over and over,
    so its parameters are read by ``lean_handler`` instead of FastAPI's solver, which cost
    more than the route's own work (docs/benchmarks.md, "The front door"). The endpoint is
    written like any other (a JSON body model, ``Annotated[..., Depends(dep)]`` for a
    dependency taking the request, ``str`` path parameters, ``Request``), and FastAPI
    documents it as it documents any other."""
    setattr(endpoint, _LEAN, True)
    return endpoint


def is_lean(endpoint: Callable[..., Any]) -> bool:
    """Whether ``endpoint`` was marked ``lean``."""
    return getattr(endpoint, _LEAN, False)


def lean_handler(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """``endpoint`` as a handler of one request: each parameter read by the cheapest rule that
    gives what FastAPI would have given it (the same values, the same
    ``RequestValidationError``s). Only the kinds above are supported; any other parameter
    is a ``TypeError`` when the route is built, never a surprise at request time."""
    hints = get_type_hints(endpoint, include_extras=True)
    readers = [(name, _reader(endpoint, name, hints.get(name)))
               for name in inspect.signature(endpoint).parameters]
    # FastAPI's order: dependencies (the caller's key), then the request's own parts, the body
    # last, so a request that is wrong twice is refused for the same reason either way
    readers.sort(key=lambda reader: _ORDER[reader[1][0]])

    async def handler(request: Request) -> Response:
        kwargs = {}
        for name, (kind, arg) in readers:
            if kind == "request":
                kwargs[name] = request
            elif kind == "path":
                kwargs[name] = request.path_params[name]
            elif kind == "body":
                kwargs[name] = await json_body(request, arg)
            else:
                kwargs[name] = await arg(request)
        return await endpoint(**kwargs)

    return handler


_ORDER = {"depends": 0, "request": 1, "path": 1, "body": 2}


def _reader(endpoint: Callable[..., Any], name: str, hint: Any) -> tuple[str, Any]:
    """How ``lean_handler`` reads parameter ``name`` of ``endpoint``."""
    if hint is Request:
        return "request", None
    if hint is str:
        return "path", None
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return "body", hint
    if get_origin(hint) is Annotated:
        depends = [m for m in get_args(hint)[1:] if isinstance(m, params.Depends)]
        dependency = depends[0].dependency if depends else None
        if dependency is not None and inspect.iscoroutinefunction(dependency) \
                and list(inspect.signature(dependency).parameters) == ["request"]:
            return "depends", dependency
    raise TypeError(f"lean route {endpoint.__name__}: parameter {name}: {hint!r} is not a "
                    "Request, a str path parameter, a body model or an async dependency "
                    "of the request")


async def json_body(request: Request, model: type[M]) -> M:
    """The request body as ``model``, refused exactly as a FastAPI body parameter refuses it:
    ``RequestValidationError`` with ``body`` first in every error location.

    Parsed by pydantic-core's JSON parser: a 19.6 MB create holding a base64 photograph
    parses in 2.7 ms, against 14 ms with ``json.loads`` and 19 ms with orjson
    (``bench/create_path.py``; docs/benchmarks.md, "Creates with photographs"). It also
    refuses nesting deeper than 200 levels as a JSON error rather than recursing."""
    raw = await request.body()
    data: Any = raw
    if raw:
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        maintype, _, subtype = media_type.partition("/")
        if maintype == "application" and (subtype == "json" or subtype.endswith("+json")):
            data = parse_json(raw)
    else:
        raise RequestValidationError([{"type": "missing", "loc": ("body",),
                                       "msg": "Field required", "input": None}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()],
            body=data) from None


def loads(raw: bytes | str) -> Any:
    """``raw`` (UTF-8 JSON, or text: a WebSocket message) as Python values, by the one parser
    of request bodies (pydantic-core's; see ``json_body``); ``ValueError`` when it is not
    JSON, nesting deeper than 200 levels included (``json.loads`` would raise
    ``RecursionError`` instead), and a string holding a NUL character (``\\u0000``), which no
    field takes and PostgreSQL cannot store or compare."""
    value = pydantic_core.from_json(raw)
    escaped_nul = "\\u0000" if isinstance(raw, str) else b"\\u0000"
    if escaped_nul in raw and _holds_nul(value):   # type: ignore[operator]
        raise ValueError("a string holds a NUL character (\\u0000), which Framecast does "
                         "not accept")
    return value


def _holds_nul(value: Any) -> bool:
    """Whether any string (key or value) in parsed JSON holds a NUL character."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json(raw: bytes) -> Any:
    """``raw`` (UTF-8 JSON) as Python values; ``RequestValidationError`` (``json_invalid``,
    with the parser's words and position) when it is not JSON."""
    try:
        return loads(raw)
    except ValueError as exc:
        raise RequestValidationError([{
            "type": "json_invalid", "loc": ("body",), "msg": "JSON decode error",
            "input": {}, "ctx": {"error": str(exc)}}]) from None


def body_read_error(exc: Exception) -> FramecastError | None:
    """What to answer when reading the request body raised ``exc``, for the dialects that read
    it themselves: ``api.middleware`` raises its own errors from ``receive`` (an over-long
    chunked body, 413, answered without the server's cap; a large body that did not arrive in
    time, 408), which go to the envelope as they are; None for anything else, which the
    dialect words itself (a 400)."""
    if isinstance(exc, PayloadTooLarge):
        return PayloadTooLarge("The request body is larger than the server accepts.",
                               param="body")
    return exc if isinstance(exc, FramecastError) else None
