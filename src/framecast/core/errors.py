"""The one error family of Framecast.

Every layer raises these; each dialect maps them to its own envelope in one place.
Foreign exceptions (SQLAlchemy, PIL, PyAV, httpx, torch) are mapped at the boundary
where they occur, never passed through.

    FramecastError
    ├── InvalidInput            400  a request field is wrong; ``param`` names it
    │   ├── MissingInput        400  a required field is absent
    │   ├── FetchFailed         400  an input URL could not be fetched or is refused
    │   └── PayloadTooLarge     413  the request or an input is over a size cap
    ├── Unauthorized            401  missing, unknown or revoked API key / bad signature
    ├── Forbidden               403
    ├── NotFound                404  unknown id, or an id owned by another key
    ├── Conflict                409  the operation is in progress elsewhere; try again
    ├── InvalidState            400  the task's status does not allow the operation
    │   └── InvalidTransition   400  a store transition matched no row
    │       └── LeaseLost            a worker write carried a stale lease token
    ├── RateLimited             429  ``retry_after_s`` says when to come back
    ├── EngineFailed            500  the engine raised or its process died
    ├── StorageError            500  the blob store failed
    └── ConfigError             500  the configuration (framecast.toml, weights) is wrong
"""

from __future__ import annotations

import errno
import math
from typing import Any


class FramecastError(Exception):
    """Base of every error Framecast raises on purpose.

    ``code`` is a stable machine name (Ark-style, e.g. ``InvalidParameter``), ``status``
    the HTTP status a dialect should answer with, ``param`` the request field at fault.
    Extra keyword context (``task_id=...``) is kept in ``context`` for logs.
    """

    status: int = 500
    code: str = "InternalServiceError"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.context = context

    def __str__(self) -> str:
        return self.message


class InvalidInput(FramecastError):
    """A request field has a wrong value; ``param`` names the field."""

    status = 400
    code = "InvalidParameter"


class MissingInput(InvalidInput):
    """A required request field is absent."""

    code = "MissingParameter"


class FetchFailed(InvalidInput):
    """An input URL could not be fetched, was refused by the SSRF guard, or is not an image."""

    code = "InvalidParameter"


class PayloadTooLarge(InvalidInput):
    """The request body or one input is larger than the configured cap."""

    status = 413
    code = "RequestEntityTooLarge"


class Unauthorized(FramecastError):
    """The API key is missing, unknown or revoked, or a signature does not verify."""

    status = 401
    code = "AuthenticationError"


class Forbidden(FramecastError):
    """The key is valid but may not do this."""

    status = 403
    code = "AccessDenied"


class NotFound(FramecastError):
    """No such object for this owner (another owner's object is also 'not found')."""

    status = 404
    code = "ResourceNotFound"


class Conflict(FramecastError):
    """The operation collides with one in progress (a webhook attempt being made); trying
    again shortly succeeds. Never used where an SDK would retry it blindly."""

    status = 409
    code = "Conflict"


class InvalidState(FramecastError):
    """The object's current status does not allow the operation (400, never 409: SDKs retry 409)."""

    status = 400
    code = "InvalidAction"


class InvalidTransition(InvalidState):
    """A store transition expected a status and no row matched."""


class LeaseLost(InvalidTransition):
    """A worker write carried a lease token that no longer holds the task."""

    code = "LeaseLost"


class RetryLater(FramecastError):
    """A refusal that passes: answered with ``Retry-After`` (seconds, rounded up)."""

    def __init__(self, message: str, *, retry_after_s: float = 1.0, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after_s = retry_after_s

    @property
    def retry_after(self) -> str:
        """The ``Retry-After`` header value: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))


class RateLimited(RetryLater):
    """Too many requests or too many queued tasks for this key."""

    status = 429
    code = "RateLimitExceeded"


class EngineFailed(FramecastError):
    """The engine raised, or its process died, while running a task."""

    status = 500
    code = "InternalServiceError"


class StorageError(FramecastError):
    """The blob store could not read or write an object."""

    status = 500
    code = "InternalServiceError"


class StorageUnavailable(StorageError, RetryLater):
    """The blob store cannot take writes for now (the disk is full, the object store does
    not answer): 503 with ``Retry-After``; a worker hands its task back instead of failing
    it. The message never names a path."""

    status = 503
    code = "ServiceUnavailable"

    def __init__(self, message: str, *, retry_after_s: float = 30.0, **context: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **context)


class ConfigError(FramecastError):
    """The configuration is wrong: unknown engine, missing weights, bad TOML."""

    status = 500
    code = "ConfigError"


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL_WORDS = ("no space left on device", "database or disk is full", "disk quota exceeded")


def out_of_space(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says a disk or quota is full: ``ENOSPC``,
    ``EDQUOT``, SQLite's "database or disk is full", PostgreSQL's disk-full error, an encoder's
    "No space left on device"."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return True
        if type(exc).__name__ == "DiskFull" or any(w in str(exc).lower() for w in _FULL_WORDS):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
