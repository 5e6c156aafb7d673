"""The Framecast Python SDK: a client of a Framecast server's native API.

    from framecast.client import Framecast

    with Framecast() as client:            # FRAMECAST_URL, FRAMECAST_API_KEY
        task = client.videos.create(image="cat.png", prompt="slow push in",
                                    resolution="480p", duration=2)
        task = client.tasks.wait(task.id, on_progress=lambda e: print(e.progress))
        client.download(task, "cat.mp4")

``AsyncFramecast`` is the same, awaited. Every error is a ``FramecastError``. See
``docs/sdk.md``.
"""

from framecast.client._async import AsyncFramecast
from framecast.client._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    FramecastError,
    InputError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TaskFailedError,
    TimeoutError,
)
from framecast.client._models import (
    DeletedTask,
    Model,
    ModelCapabilities,
    Output,
    Task,
    TaskError,
    TaskEvent,
    TaskList,
    Usage,
)
from framecast.client._sse import ProgressCallback
from framecast.client._sync import Framecast

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncFramecast",
    "AuthenticationError",
    "BadRequestError",
    "DeletedTask",
    "Framecast",
    "FramecastError",
    "InputError",
    "InternalServerError",
    "Model",
    "ModelCapabilities",
    "NotFoundError",
    "Output",
    "PermissionDeniedError",
    "ProgressCallback",
    "RateLimitError",
    "Task",
    "TaskError",
    "TaskEvent",
    "TaskFailedError",
    "TaskList",
    "TimeoutError",
    "Usage",
]
