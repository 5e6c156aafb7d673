"""The SDK's one exception family.

    FramecastError
    ├── InputError                a local input is unusable (missing file, unknown bytes)
    ├── APIConnectionError        the server could not be reached (or the stream broke)
    ├── TimeoutError              ``wait`` ran out of time (also a builtin ``TimeoutError``)
    ├── TaskFailedError           the task ended failed, cancelled or expired (``.task``)
    └── APIError                  the server answered an error: ``status``, ``code``,
        │                         ``message``, ``param``
        ├── BadRequestError       400, 413, 422
        ├── AuthenticationError   401
        ├── PermissionDeniedError 403
        ├── NotFoundError         404
        ├── RateLimitError        429 (``retry_after_s``)
        └── InternalServerError   5xx
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framecast.client._models import Task


class FramecastError(Exception):
    """Base of every error the SDK raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(FramecastError, ValueError):
    """A local input cannot be used (a path that does not exist, bytes of no known image
    type, a missing required argument)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class APIConnectionError(FramecastError):
    """The server could not be reached, or the connection broke."""


class TimeoutError(FramecastError, builtins.TimeoutError):   # shadows the builtin on purpose
    """``wait`` gave up before the task ended (the task goes on; wait again)."""


class TaskFailedError(FramecastError):
    """The task ended without succeeding: ``task.status`` is failed, cancelled or expired."""

    def __init__(self, task: Task) -> None:
        reason = f": {task.error.code}: {task.error.message}" if task.error else ""
        super().__init__(f"task {task.id} {task.status}{reason}")
        self.task = task


class APIError(FramecastError):
    """The server answered with an error envelope ``{"error": {code, message, param}}``."""

    def __init__(self, message: str, *, status: int, code: str | None = None,
                 param: str | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param
        self.body = body

    def __str__(self) -> str:
        where = f" (param `{self.param}`)" if self.param else ""
        return f"{self.status} {self.code or 'error'}: {self.message}{where}"


class BadRequestError(APIError):
    """400 (and 413, 422): a request field is wrong; ``param`` names it."""


class AuthenticationError(APIError):
    """401: the API key is missing or not valid."""


class PermissionDeniedError(APIError):
    """403: the key may not do this."""


class NotFoundError(APIError):
    """404: no such task for this key, no such model, or no such endpoint."""


class RateLimitError(APIError):
    """429: too many requests or queued tasks; ``retry_after_s`` says when to retry."""

    def __init__(self, message: str, *, retry_after_s: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class InternalServerError(APIError):
    """5xx: the server failed."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError,
    404: NotFoundError, 413: BadRequestError, 422: BadRequestError, 429: RateLimitError,
}


def error_for(status: int, body: Any, headers: dict[str, str] | None = None) -> APIError:
    """The exception for an HTTP error answer (any envelope shape; text bodies too)."""
    code = param = None
    message = f"HTTP {status}"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code, param = err.get("code"), err.get("param")
            message = str(err.get("message") or message)
        elif isinstance(body.get("detail"), str):
            message = body["detail"]
        elif isinstance(body.get("message"), str):
            message = body["message"]
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:300]
    cls = _BY_STATUS.get(status, InternalServerError if status >= 500 else APIError)
    if cls is RateLimitError:
        retry = (headers or {}).get("retry-after")
        return RateLimitError(message, status=status, code=code, param=param, body=body,
                              retry_after_s=float(retry) if retry and retry.isdigit() else None)
    return cls(message, status=status, code=code, param=param, body=body)
