"""``Framecast``: the synchronous client (``httpx.Client``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from framecast.client import _base as b
from framecast.client._errors import APIConnectionError, InternalServerError, TimeoutError
from framecast.client._inputs import ImageSource
from framecast.client._models import DeletedTask, Model, Output, Task, TaskEvent, TaskList, Usage
from framecast.client._sse import (
    MAX_STREAM_FAILURES,
    STREAM_READ_TIMEOUT_S,
    Follower,
    ProgressCallback,
)


class _NoEventsEndpoint(Exception):
    """The server has no events endpoint (an older one): poll instead."""


class Framecast:
    """A client of a Framecast server's native API.

    ``base_url`` defaults to ``FRAMECAST_URL`` (else ``http://127.0.0.1:8000``), ``api_key``
    to ``FRAMECAST_API_KEY``. Use it as a context manager, or call ``close()``."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = b.DEFAULT_TIMEOUT_S,
                 http_client: httpx.Client | None = None) -> None:
        self.base_url = b.resolve_base_url(base_url)
        self.api_key = b.resolve_api_key(api_key)
        self.timeout = timeout
        self._http = http_client or httpx.Client(timeout=timeout, follow_redirects=False)
        self.videos = Videos(self)
        self.images = Images(self)
        self.tasks = Tasks(self)
        self.models = Models(self)

    def __enter__(self) -> Framecast:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def _send(self, call: b.Call) -> Any:
        """Run one call; reads are retried on connection errors and 502/503/504."""
        attempts = 1 + (b.GET_RETRIES if call.retryable else 0)
        for attempt in range(attempts):
            try:
                response = self._http.request(
                    call.method, self.base_url + call.path, params=call.params, json=call.json,
                    headers=b.request_headers(self.api_key))
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    time.sleep(b.RETRY_DELAY_S * (attempt + 1))
                    continue
                raise APIConnectionError(b.connection_error_message(exc, self.base_url)) \
                    from exc
            if response.status_code in b.RETRY_STATUSES and attempt + 1 < attempts:
                time.sleep(b.RETRY_DELAY_S * (attempt + 1))
                continue
            return b.read_answer(response)
        raise AssertionError("unreachable")

    def usage(self, since: b.TimeValue | None = None, until: b.TimeValue | None = None
              ) -> Usage:
        """The key's usage of tasks created in ``[since, until)`` (unix seconds, ISO text or
        datetimes; default all time)."""
        return Usage.model_validate(self._send(b.usage_call(since, until)))

    def download(self, task_or_url: Task | Output | str, path: str | os.PathLike[str]) -> Path:
        """Save a task's main output (or an output, or a URL) to ``path`` (a file, or a
        folder to keep the output's name); returns the file written. Signed URLs need no key,
        so none is sent."""
        url, name = b.download_source(task_or_url)
        target = b.download_path(path, name)
        partial = b.partial_path(target)
        try:
            with self._http.stream("GET", url, headers={"User-Agent": b.USER_AGENT}) as r:
                if r.status_code >= 400:
                    r.read()
                    b.read_answer(r)
                with partial.open("wb") as out:
                    for chunk in r.iter_bytes(b.DOWNLOAD_CHUNK_BYTES):
                        out.write(chunk)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise APIConnectionError(b.connection_error_message(exc, url)) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return target


class Videos:
    """``client.videos``: create video tasks."""

    def __init__(self, client: Framecast) -> None:
        self._client = client

    def create(self, *, prompt: str | None = None, image: ImageSource | None = None,
               last_frame: ImageSource | None = None,
               references: Iterable[ImageSource] | None = None, model: str | None = None,
               resolution: str | None = None, ratio: str | None = None,
               duration: int | None = None, frames: int | None = None, fps: int | None = None,
               seed: int | None = None, camera_fixed: bool | None = None,
               watermark: bool | None = None, generate_audio: bool | None = None,
               return_last_frame: bool | None = None, service_tier: str | None = None,
               callback_url: str | None = None,
               execution_expires_after: int | None = None) -> Task:
        """Queue a video task and return it (follow it with ``client.tasks.wait``). Images
        are local paths, http(s) URLs, data URIs or bytes."""
        call = b.create_video_call(
            image=image, last_frame=last_frame, references=references, prompt=prompt,
            model=model, resolution=resolution, ratio=ratio, duration=duration, frames=frames,
            fps=fps, seed=seed, camera_fixed=camera_fixed, watermark=watermark,
            generate_audio=generate_audio, return_last_frame=return_last_frame,
            service_tier=service_tier, callback_url=callback_url,
            execution_expires_after=execution_expires_after)
        return Task.model_validate(self._client._send(call))


class Images:
    """``client.images``: generate images."""

    def __init__(self, client: Framecast) -> None:
        self._client = client

    def generate(self, *, prompt: str, size: str | None = None, seed: int | None = None,
                 guidance_scale: float | None = None, watermark: bool | None = None,
                 model: str | None = None, images: Iterable[ImageSource] | None = None,
                 callback_url: str | None = None, wait: bool = True,
                 timeout: float | None = None,
                 on_progress: ProgressCallback | None = None) -> Task:
        """Generate an image. With ``wait`` (the default) the finished task is returned
        (``TaskFailedError`` if it failed); ``wait=False`` returns the queued task."""
        call = b.create_image_call(images=images, prompt=prompt, size=size, seed=seed,
                                   guidance_scale=guidance_scale, watermark=watermark,
                                   model=model, callback_url=callback_url)
        task = Task.model_validate(self._client._send(call))
        if not wait:
            return task
        return self._client.tasks.wait(task.id, timeout=timeout, on_progress=on_progress)


class Models:
    """``client.models``: what the server can run."""

    def __init__(self, client: Framecast) -> None:
        self._client = client

    def list(self, kind: str | None = None) -> list[Model]:
        """Every model id the server accepts (optionally one kind)."""
        data = self._client._send(b.Call("GET", f"{b.API_PREFIX}/models",
                                         params=b.compact(kind=kind)))
        return [Model.model_validate(m) for m in data["data"]]


class Tasks:
    """``client.tasks``: read, list, follow, cancel and delete tasks."""

    def __init__(self, client: Framecast) -> None:
        self._client = client

    def get(self, task_id: str) -> Task:
        """One task (``NotFoundError`` for an unknown id or another key's task)."""
        return Task.model_validate(self._client._send(b.Call("GET", b.task_path(task_id))))

    def list(self, *, status: str | list[str] | None = None, kind: str | None = None,
             model: str | None = None, limit: int = 20, offset: int = 0) -> TaskList:
        """A page of the key's tasks, newest first."""
        call = b.list_call(status=status, kind=kind, model=model, limit=limit, offset=offset)
        return TaskList.model_validate(self._client._send(call))

    def cancel(self, task_id: str) -> Task:
        """Cancel a queued task, or kill a running one (it ends cancelled within seconds)."""
        return Task.model_validate(
            self._client._send(b.Call("POST", b.task_path(task_id, "/cancel"))))

    def delete(self, task_id: str) -> DeletedTask:
        """Delete a finished (or queued) task and its files; a running one must be
        cancelled first (``BadRequestError``)."""
        return DeletedTask.model_validate(
            self._client._send(b.Call("DELETE", b.task_path(task_id))))

    def events(self, task_id: str, *, last_event_id: str | None = None) -> Iterator[TaskEvent]:
        """The task's event stream (one connection, from ``last_event_id``), until ``done``."""
        follower = Follower(task_id, last_event_id=last_event_id)
        yield from self._stream(follower, None)

    def wait(self, task_id: str, *, on_progress: ProgressCallback | None = None,
             timeout: float | None = None, poll_interval: float = 1.0,
             raise_on_failure: bool = True) -> Task:
        """Follow the task until it ends and return it. ``on_progress(event)`` sees every
        status change and step, in order (the event stream, resumed with ``Last-Event-ID``
        when a connection breaks; polling when the server has no stream). ``TimeoutError``
        after ``timeout`` seconds; ``TaskFailedError`` when it did not succeed (unless
        ``raise_on_failure=False``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        follower = Follower(task_id)
        streaming, previous = True, None
        while True:
            if streaming:
                try:
                    for event in self._stream(follower, deadline):
                        if on_progress is not None:
                            on_progress(event)
                except _NoEventsEndpoint:
                    streaming = False
                    continue
                except (APIConnectionError, InternalServerError):
                    pass
                if follower.done:
                    return b.finished(self.get(task_id), raise_on_failure)
                # the stream broke or ended early: resume it, or poll once it keeps failing
                follower.failures += 1
                streaming = follower.failures < MAX_STREAM_FAILURES
                if streaming:
                    _sleep_until(follower.backoff_s(), deadline, task_id)
                continue
            task = self.get(task_id)
            event = TaskEvent.from_task(task)
            if on_progress is not None and Follower.changed(event, previous):
                on_progress(event)
            previous = event
            if task.terminal:
                return b.finished(task, raise_on_failure)
            _sleep_until(poll_interval, deadline, task_id)

    def _stream(self, follower: Follower, deadline: float | None) -> Iterator[TaskEvent]:
        """One connection to the event stream; yields task events until ``done`` or the end
        of the stream."""
        client = self._client
        read_s = STREAM_READ_TIMEOUT_S
        if deadline is not None:
            read_s = max(0.1, min(read_s, deadline - time.monotonic() + 0.5))
        timeout = httpx.Timeout(client.timeout, read=read_s)
        headers = {**b.request_headers(client.api_key), **follower.headers()}
        url = client.base_url + b.task_path(follower.task_id, "/events")
        try:
            with client._http.stream("GET", url, headers=headers, timeout=timeout) as response:
                if response.status_code == 404:
                    response.read()
                    self.get(follower.task_id)        # NotFoundError when the task is gone
                    raise _NoEventsEndpoint
                if response.status_code >= 400:
                    response.read()
                    b.read_answer(response)
                decoder = follower.decoder()
                for line in response.iter_lines():
                    sse = decoder.feed(line)
                    event = follower.handle(sse) if sse is not None else None
                    if event is not None:
                        yield event
                        if follower.done:
                            return
                    _check_deadline(deadline, follower.task_id)
        except httpx.TransportError as exc:
            _check_deadline(deadline, follower.task_id)
            raise APIConnectionError(b.connection_error_message(exc, client.base_url)) from exc


def _check_deadline(deadline: float | None, task_id: str) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError(f"task {task_id} did not end in time")


def _sleep_until(seconds: float, deadline: float | None, task_id: str) -> None:
    """Sleep ``seconds`` (less when the deadline is nearer), then check the deadline."""
    if deadline is not None:
        seconds = max(0.0, min(seconds, deadline - time.monotonic()))
    time.sleep(seconds)
    _check_deadline(deadline, task_id)
