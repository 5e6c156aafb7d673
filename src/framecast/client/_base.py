"""What the sync and async clients share: configuration, the calls they make (built once as
plain ``Call`` values), reading answers, and where a download goes.

The clients only *run* calls: ``Framecast`` with ``httpx.Client``, ``AsyncFramecast`` with
``httpx.AsyncClient``; everything that decides what to send or how to read it is here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from framecast import __version__
from framecast.client._errors import InputError, TaskFailedError, error_for
from framecast.client._inputs import ImageSource, compact, image_body, video_body
from framecast.client._models import Output, Task

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 60.0
API_PREFIX = "/framecast/v1"
GET_RETRIES = 2           # idempotent reads are retried on connection errors and 502/503/504
RETRY_STATUSES = frozenset({502, 503, 504})
RETRY_DELAY_S = 0.5
DOWNLOAD_CHUNK_BYTES = 1 << 16
USER_AGENT = f"framecast-python/{__version__}"

TimeValue = float | int | str | datetime


def resolve_base_url(base_url: str | None) -> str:
    """The server: the argument, else ``FRAMECAST_URL``, else ``http://127.0.0.1:8000``."""
    url = base_url or os.environ.get("FRAMECAST_URL") or DEFAULT_BASE_URL
    return url.rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    """The key: the argument, else ``FRAMECAST_API_KEY`` (None: send no key)."""
    return api_key or os.environ.get("FRAMECAST_API_KEY") or None


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers of every API request (never of file downloads)."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


@dataclass(frozen=True)
class Call:
    """One API call: method, path under the base URL, query and JSON body."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None

    @property
    def retryable(self) -> bool:
        """Only reads are retried (a create retried after a lost answer could run twice)."""
        return self.method == "GET"


def read_answer(response: httpx.Response) -> Any:
    """The JSON of a successful answer; the matching ``APIError`` otherwise."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if response.status_code >= 400:
        raise error_for(response.status_code, body,
                        {k.lower(): v for k, v in response.headers.items()})
    return body


def finished(task: Task, raise_on_failure: bool) -> Task:
    """The task ``wait`` returns; ``TaskFailedError`` for failed/cancelled/expired when asked."""
    if raise_on_failure and not task.succeeded:
        raise TaskFailedError(task)
    return task


def task_path(task_id: str, suffix: str = "") -> str:
    """``/framecast/v1/tasks/{id}{suffix}`` with the id escaped."""
    if not task_id or not isinstance(task_id, str):
        raise InputError("a task id is required", param="task_id")
    return f"{API_PREFIX}/tasks/{quote(task_id, safe='')}{suffix}"


def create_video_call(*, image: ImageSource | None, last_frame: ImageSource | None,
                      references: Any, **options: Any) -> Call:
    """``POST /framecast/v1/videos``."""
    return Call("POST", f"{API_PREFIX}/videos",
                json=video_body(image=image, last_frame=last_frame, references=references,
                                **options))


def create_image_call(*, images: Any, **options: Any) -> Call:
    """``POST /framecast/v1/images``."""
    if not options.get("prompt"):
        raise InputError("`prompt` is required", param="prompt")
    return Call("POST", f"{API_PREFIX}/images", json=image_body(images=images, **options))


def list_call(*, status: str | list[str] | None, kind: str | None, model: str | None,
              limit: int, offset: int) -> Call:
    """``GET /framecast/v1/tasks``."""
    statuses = [status] if isinstance(status, str) else list(status or [])
    params = compact(kind=kind, model=model, limit=limit, offset=offset)
    if statuses:
        params["status"] = ",".join(statuses)
    return Call("GET", f"{API_PREFIX}/tasks", params=params)


def _time_param(value: TimeValue | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def usage_call(since: TimeValue | None, until: TimeValue | None) -> Call:
    """``GET /framecast/v1/usage``."""
    return Call("GET", f"{API_PREFIX}/usage",
                params=compact(since=_time_param(since), until=_time_param(until)))


def download_source(item: Task | Output | str) -> tuple[str, str]:
    """(URL, file name) of what ``download`` fetches: a task's main output, an output, or a
    URL."""
    if isinstance(item, Task):
        output = item.primary_output
        if output is None or not output.url:
            raise InputError(f"task {item.id} has no output to download (status "
                             f"{item.status})", param="task")
        return output.url, output.name
    if isinstance(item, Output):
        if not item.url:
            raise InputError(f"output {item.name} has no URL", param="output")
        return item.url, item.name
    if isinstance(item, str) and item.lower().startswith(("http://", "https://")):
        name = unquote(Path(urlsplit(item).path).name) or "download"
        return item, name
    raise InputError("download takes a Task, an Output or an http(s) URL", param="task_or_url")


def download_path(path: str | os.PathLike[str], name: str) -> Path:
    """Where a download is written: ``path``, or ``path/name`` when ``path`` is a folder."""
    target = Path(path).expanduser()
    if target.is_dir() or str(path).endswith(("/", os.sep)):
        target.mkdir(parents=True, exist_ok=True)
        return target / name
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def partial_path(target: Path) -> Path:
    """The temporary file a download is written to before it is renamed into place."""
    return target.with_name(f".{target.name}.part")


def connection_error_message(exc: httpx.HTTPError, base_url: str) -> str:
    """A one-line reason for a transport failure."""
    detail = str(exc) or type(exc).__name__
    return f"cannot reach the Framecast server at {base_url}: {detail}"
