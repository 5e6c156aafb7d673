"""``AsyncFramecast``: the asynchronous client (``httpx.AsyncClient``; asyncio or trio).

The same calls as ``Framecast`` (``_sync.py``), awaited; ``on_progress`` may be a plain
function or a coroutine function."""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import anyio
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


class AsyncFramecast:
    """The asynchronous twin of ``Framecast``: the same arguments and resources, awaited."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = b.DEFAULT_TIMEOUT_S,
                 http_client: httpx.AsyncClient | None = None) -> None:
        self.base_url = b.resolve_base_url(base_url)
        self.api_key = b.resolve_api_key(api_key)
        self.timeout = timeout
        self._http = http_client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self.videos = AsyncVideos(self)
        self.images = AsyncImages(self)
        self.tasks = AsyncTasks(self)
        self.models = AsyncModels(self)

    async def __aenter__(self) -> AsyncFramecast:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the connection pool."""
        await self._http.aclose()

    async def _send(self, call: b.Call) -> Any:
        attempts = 1 + (b.GET_RETRIES if call.retryable else 0)
        for attempt in range(attempts):
            try:
                response = await self._http.request(
                    call.method, self.base_url + call.path, params=call.params, json=call.json,
                    headers=b.request_headers(self.api_key))
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    await anyio.sleep(b.RETRY_DELAY_S * (attempt + 1))
                    continue
                raise APIConnectionError(b.connection_error_message(exc, self.base_url)) \
                    from exc
            if response.status_code in b.RETRY_STATUSES and attempt + 1 < attempts:
                await anyio.sleep(b.RETRY_DELAY_S * (attempt + 1))
                continue
            return b.read_answer(response)
        raise AssertionError("unreachable")

    async def usage(self, since: b.TimeValue | None = None,
                    until: b.TimeValue | None = None) -> Usage:
        """The key's usage of tasks created in ``[since, until)``."""
        return Usage.model_validate(await self._send(b.usage_call(since, until)))

    async def download(self, task_or_url: Task | Output | str,
                       path: str | os.PathLike[str]) -> Path:
        """Save a task's main output (or an output, or a URL) to ``path``."""
        url, name = b.download_source(task_or_url)
        target = b.download_path(path, name)
        partial = b.partial_path(target)
        try:
            async with self._http.stream("GET", url,
                                         headers={"User-Agent": b.USER_AGENT}) as r:
                if r.status_code >= 400:
                    await r.aread()
                    b.read_answer(r)
                with partial.open("wb") as out:
                    async for chunk in r.aiter_bytes(b.DOWNLOAD_CHUNK_BYTES):
                        out.write(chunk)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise APIConnectionError(b.connection_error_message(exc, url)) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return target


class AsyncVideos:
    """``client.videos``."""

    def __init__(self, client: AsyncFramecast) -> None:
        self._client = client

    async def create(self, *, prompt: str | None = None, image: ImageSource | None = None,
                     last_frame: ImageSource | None = None,
                     references: Iterable[ImageSource] | None = None,
                     model: str | None = None, resolution: str | None = None,
                     ratio: str | None = None, duration: int | None = None,
                     frames: int | None = None, fps: int | None = None,
                     seed: int | None = None, camera_fixed: bool | None = None,
                     watermark: bool | None = None, generate_audio: bool | None = None,
                     return_last_frame: bool | None = None, service_tier: str | None = None,
                     callback_url: str | None = None,
                     execution_expires_after: int | None = None) -> Task:
        """Queue a video task and return it (as ``Framecast.videos.create``)."""
        call = b.create_video_call(
            image=image, last_frame=last_frame, references=references, prompt=prompt,
            model=model, resolution=resolution, ratio=ratio, duration=duration, frames=frames,
            fps=fps, seed=seed, camera_fixed=camera_fixed, watermark=watermark,
            generate_audio=generate_audio, return_last_frame=return_last_frame,
            service_tier=service_tier, callback_url=callback_url,
            execution_expires_after=execution_expires_after)
        return Task.model_validate(await self._client._send(call))


class AsyncImages:
    """``client.images``."""

    def __init__(self, client: AsyncFramecast) -> None:
        self._client = client

    async def generate(self, *, prompt: str, size: str | None = None, seed: int | None = None,
                       guidance_scale: float | None = None, watermark: bool | None = None,
                       model: str | None = None, images: Iterable[ImageSource] | None = None,
                       callback_url: str | None = None, wait: bool = True,
                       timeout: float | None = None,
                       on_progress: ProgressCallback | None = None) -> Task:
        """Generate an image (as ``Framecast.images.generate``)."""
        call = b.create_image_call(images=images, prompt=prompt, size=size, seed=seed,
                                   guidance_scale=guidance_scale, watermark=watermark,
                                   model=model, callback_url=callback_url)
        task = Task.model_validate(await self._client._send(call))
        if not wait:
            return task
        return await self._client.tasks.wait(task.id, timeout=timeout, on_progress=on_progress)


class AsyncModels:
    """``client.models``."""

    def __init__(self, client: AsyncFramecast) -> None:
        self._client = client

    async def list(self, kind: str | None = None) -> list[Model]:
        """Every model id the server accepts."""
        data = await self._client._send(b.Call("GET", f"{b.API_PREFIX}/models",
                                               params=b.compact(kind=kind)))
        return [Model.model_validate(m) for m in data["data"]]


class AsyncTasks:
    """``client.tasks``."""

    def __init__(self, client: AsyncFramecast) -> None:
        self._client = client

    async def get(self, task_id: str) -> Task:
        """One task."""
        return Task.model_validate(await self._client._send(b.Call("GET", b.task_path(task_id))))

    async def list(self, *, status: str | list[str] | None = None, kind: str | None = None,
                   model: str | None = None, limit: int = 20, offset: int = 0) -> TaskList:
        """A page of the key's tasks, newest first."""
        call = b.list_call(status=status, kind=kind, model=model, limit=limit, offset=offset)
        return TaskList.model_validate(await self._client._send(call))

    async def cancel(self, task_id: str) -> Task:
        """Cancel a queued task, or kill a running one."""
        return Task.model_validate(
            await self._client._send(b.Call("POST", b.task_path(task_id, "/cancel"))))

    async def delete(self, task_id: str) -> DeletedTask:
        """Delete a finished (or queued) task and its files."""
        return DeletedTask.model_validate(
            await self._client._send(b.Call("DELETE", b.task_path(task_id))))

    async def events(self, task_id: str, *, last_event_id: str | None = None
                     ) -> AsyncIterator[TaskEvent]:
        """The task's event stream (one connection), until ``done``."""
        follower = Follower(task_id, last_event_id=last_event_id)
        async for event in self._stream(follower, None):
            yield event

    async def wait(self, task_id: str, *, on_progress: ProgressCallback | None = None,
                   timeout: float | None = None, poll_interval: float = 1.0,
                   raise_on_failure: bool = True) -> Task:
        """Follow the task until it ends (as ``Framecast.tasks.wait``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        follower = Follower(task_id)
        streaming, previous = True, None
        while True:
            if streaming:
                try:
                    async for event in self._stream(follower, deadline):
                        await _report(on_progress, event)
                except _NoEventsEndpoint:
                    streaming = False
                    continue
                except (APIConnectionError, InternalServerError):
                    pass
                if follower.done:
                    return b.finished(await self.get(task_id), raise_on_failure)
                # the stream broke or ended early: resume it, or poll once it keeps failing
                follower.failures += 1
                streaming = follower.failures < MAX_STREAM_FAILURES
                if streaming:
                    await _sleep_until(follower.backoff_s(), deadline, task_id)
                continue
            task = await self.get(task_id)
            event = TaskEvent.from_task(task)
            if Follower.changed(event, previous):
                await _report(on_progress, event)
            previous = event
            if task.terminal:
                return b.finished(task, raise_on_failure)
            await _sleep_until(poll_interval, deadline, task_id)

    async def _stream(self, follower: Follower, deadline: float | None
                      ) -> AsyncIterator[TaskEvent]:
        client = self._client
        read_s = STREAM_READ_TIMEOUT_S
        if deadline is not None:
            read_s = max(0.1, min(read_s, deadline - time.monotonic() + 0.5))
        timeout = httpx.Timeout(client.timeout, read=read_s)
        headers = {**b.request_headers(client.api_key), **follower.headers()}
        url = client.base_url + b.task_path(follower.task_id, "/events")
        try:
            async with client._http.stream("GET", url, headers=headers,
                                           timeout=timeout) as response:
                if response.status_code == 404:
                    await response.aread()
                    await self.get(follower.task_id)
                    raise _NoEventsEndpoint
                if response.status_code >= 400:
                    await response.aread()
                    b.read_answer(response)
                decoder = follower.decoder()
                async for line in response.aiter_lines():
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


async def _report(on_progress: ProgressCallback | None, event: TaskEvent) -> None:
    if on_progress is None:
        return
    result = on_progress(event)
    if inspect.isawaitable(result):
        await result


def _check_deadline(deadline: float | None, task_id: str) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError(f"task {task_id} did not end in time")


async def _sleep_until(seconds: float, deadline: float | None, task_id: str) -> None:
    if deadline is not None:
        seconds = max(0.0, min(seconds, deadline - time.monotonic()))
    await anyio.sleep(seconds)
    _check_deadline(deadline, task_id)
