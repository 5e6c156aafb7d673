"""The SDK's public surface is exactly ``framecast.client.__all__``: a name becomes public only
by being added here and there (as httpx's ``test_exported_members`` does)."""

from __future__ import annotations

import framecast.client as client

PUBLIC = [
    "APIConnectionError", "APIError", "AsyncFramecast", "AuthenticationError", "BadRequestError",
    "DeletedTask", "Framecast", "FramecastError", "InputError", "InternalServerError", "Model",
    "ModelCapabilities", "NotFoundError", "Output", "PermissionDeniedError", "ProgressCallback",
    "RateLimitError", "Task", "TaskError", "TaskEvent", "TaskFailedError", "TaskList",
    "TimeoutError", "Usage",
]


def test_all_is_the_locked_list_in_order() -> None:
    assert client.__all__ == PUBLIC == sorted(PUBLIC)


def test_every_public_name_of_the_package_is_in_all() -> None:
    public = {name for name in vars(client) if not name.startswith("_")}
    assert public == set(client.__all__)
    for name in client.__all__:
        assert getattr(client, name) is not None
