"""Render errors through an API package's ``Envelope`` as its routes do, without a server."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError

from framecast.core.errors import FramecastError
from framecast.edge.envelope import Envelope


def request(method: str = "POST", path: str = "/x") -> Request:
    """A bare request to ``path``."""
    return Request({"type": "http", "method": method, "path": path, "query_string": b"",
                    "headers": [], "scheme": "http", "server": ("testserver", 80),
                    "root_path": ""})


def respond(envelope: Envelope, exc: FramecastError, req: Request | None = None) -> Response:
    """``exc`` as the envelope's routes answer it."""
    return envelope.respond(exc, req or request())


def respond_validation(envelope: Envelope, exc: RequestValidationError,
                       req: Request | None = None) -> Response:
    """A request that could not be parsed, as the envelope's routes answer it."""
    return envelope.render(envelope.validation_problem(exc), req or request())
